# frozen_string_literal: true

require_relative "boot"

require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "active_job/railtie"

Bundler.require(*Rails.groups)

module RailsApp
  # A minimal Rails 6.1 app on Ferrokiq: a JSON API that enqueues jobs, and jobs that write rows.
  class Application < Rails::Application
    config.load_defaults 6.1
    config.api_only = true
    config.active_job.queue_adapter = :sidekiq
    config.active_job.queue_name_prefix = ENV["QUEUE_NAME_PREFIX"] if ENV["QUEUE_NAME_PREFIX"]
    # db/schema.rb is written by hand (there are no migrations): never overwrite it.
    config.active_record.dump_schema_after_migration = false
  end
end
