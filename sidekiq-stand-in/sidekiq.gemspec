# frozen_string_literal: true

# A gem named `sidekiq` with no code of its own: it depends on ferrokiq, which provides
# `require "sidekiq"`. Point Bundler's `sidekiq` at it so that plugins depending on the sidekiq
# gem resolve to Ferrokiq instead of bringing the real Sidekiq into the process:
#
#   gem "ferrokiq"
#   gem "sidekiq", path: "/path/to/ferrokiq/sidekiq-stand-in"
#   # or: gem "sidekiq", git: "https://github.com/ferrokiq/ferrokiq", glob: "sidekiq-stand-in/*.gemspec"

require_relative "../lib/ferrokiq/version"
require_relative "../lib/sidekiq/version"

Gem::Specification.new do |spec|
  spec.name = "sidekiq"
  spec.version = Sidekiq::VERSION
  spec.summary = "Ferrokiq's stand-in for the sidekiq gem (Sidekiq #{Sidekiq::VERSION} API)"
  spec.description = "Lets gems that depend on sidekiq use Ferrokiq, which implements Sidekiq's API; " \
                     "contains no code."
  spec.authors = ["Ferrokiq developers"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/ferrokiq/ferrokiq"
  spec.required_ruby_version = ">= 3.1"
  spec.files = ["sidekiq.gemspec", "lib/sidekiq_stand_in.rb"]
  spec.add_dependency "ferrokiq", Ferrokiq::VERSION
  # Ferrokiq's boot check tells this gem from the real sidekiq by this key.
  spec.metadata["ferrokiq_stand_in"] = "true"
  spec.metadata["rubygems_mfa_required"] = "true"
end
