# frozen_string_literal: true

require_relative "boot"

require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "active_job/railtie"

Bundler.require(*Rails.groups)

module RailsApp
  # A minimal Rails 6.1 app on Ferrokiq: a JSON API that enqueues jobs, jobs that write rows, and
  # the Web UI under /sidekiq.
  class Application < Rails::Application
    config.load_defaults 6.1
    config.api_only = true
    # An API-only app has no session, and the Web UI at /sidekiq needs one (its forms carry a
    # CSRF token tied to it): the cookie middlewares an app with views has by default.
    config.session_store :cookie_store, key: "_rails_app_session", same_site: :strict
    config.middleware.use ActionDispatch::Cookies
    config.middleware.use config.session_store, config.session_options
    config.active_job.queue_adapter = :sidekiq
    config.active_job.queue_name_prefix = ENV["QUEUE_NAME_PREFIX"] if ENV["QUEUE_NAME_PREFIX"]
    # db/schema.rb is written by hand (there are no migrations): never overwrite it.
    config.active_record.dump_schema_after_migration = false
  end
end
