# frozen_string_literal: true

require "digest"
require "sidekiq/web"

# The Web UI (mounted at /sidekiq in config/routes.rb) asks for a user and password, from
# SIDEKIQ_WEB_USER and SIDEKIQ_WEB_PASSWORD. In development and test they default to
# sidekiq / sidekiq (README.md); in production the app does not boot without them.
module SidekiqWebLogin
  DEFAULTS = { "SIDEKIQ_WEB_USER" => "sidekiq", "SIDEKIQ_WEB_PASSWORD" => "sidekiq" }.freeze

  module_function

  # The SHA-256 of the variable's value: comparing digests of equal length with secure_compare
  # tells nothing about the value's length or content through timing.
  def digest_of(name)
    value = ENV.fetch(name) do
      raise KeyError, "#{name} is not set: the Web UI at /sidekiq needs it in production" if Rails.env.production?

      DEFAULTS.fetch(name)
    end
    Digest::SHA256.hexdigest(value)
  end

  USER = digest_of("SIDEKIQ_WEB_USER")
  PASSWORD = digest_of("SIDEKIQ_WEB_PASSWORD")

  def valid?(user, password)
    # `&`, not `&&`: both comparisons run whatever the first one says.
    Rack::Utils.secure_compare(Digest::SHA256.hexdigest(user), USER) &
      Rack::Utils.secure_compare(Digest::SHA256.hexdigest(password), PASSWORD)
  end
end

Sidekiq::Web.use(Rack::Auth::Basic, "Sidekiq") { |user, password| SidekiqWebLogin.valid?(user, password) }
# The UI's "Back to App" link.
Sidekiq::Web.app_url = "/"
