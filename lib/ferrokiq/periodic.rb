# frozen_string_literal: true

require "erb"
require "yaml"
require "ferrokiq/periodic/scheduler_api"
require "sidekiq/cron/configuration"

module Ferrokiq
  # Periodic jobs (sidekiq-scheduler's configuration and API) built in. At startup a server
  # process publishes the `:scheduler: :schedule:` section of sidekiq.yml, unless
  # `:scheduler: :enabled: false` says this process does not own the schedule.
  module Periodic
    module_function

    def publish_configured_schedule(config)
      settings = Entry.stringify(config[:scheduler] || {})
      return if settings["enabled"] == false || !settings.key?("schedule")

      outcome = Sidekiq.public_send(:schedule=, settings["schedule"] || {})
      config.logger.info("Periodic jobs: the cluster runs a newer schedule than this process's") if outcome == :older
    end

    # sidekiq-cron's schedule file (`cron_schedule_file`, config/schedule.yml by default, or its
    # .yaml twin), ERB first: a Hash of name => job or an Array of jobs with `name`. Jobs of
    # source "schedule" no longer listed are deleted. Nothing is loaded when sidekiq-cron's
    # `enabled` is false.
    def load_cron_schedule_file(dir = Dir.pwd)
      settings = Sidekiq::Cron.configuration
      return unless settings.enabled

      file = File.expand_path(settings.cron_schedule_file.to_s, dir)
      path = [file, file.sub(/\.yml\z/, ".yaml")].find { |candidate| File.exist?(candidate) }
      return unless path

      jobs = YAML.safe_load(ERB.new(File.read(path)).result, aliases: true) || {}
      if jobs.is_a?(Hash)
        Sidekiq::Cron::Job.load_from_hash!(jobs, source: "schedule")
      else
        Sidekiq::Cron::Job.load_from_array!(jobs, source: "schedule")
      end
    end
  end
end

module Sidekiq
  # sidekiq-cron's API (lib/sidekiq/cron/job.rb), there for initializers that name it.
  module Cron
    autoload :Job, "sidekiq/cron/job"
  end
end

Sidekiq.default_configuration.on(:startup) do
  Ferrokiq::Periodic.publish_configured_schedule(Sidekiq.default_configuration)
  Ferrokiq::Periodic.load_cron_schedule_file
end
