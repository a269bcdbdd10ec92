# frozen_string_literal: true

require "sidekiq/middleware/current_attributes"

# Jobs pushed during a request carry `Current`'s attributes (app/models/current.rb) in their
# payload ("cattr"), and run with them set: AuditJob records the request it came from. By name,
# so that code reloading in development picks up the new class.
Sidekiq::CurrentAttributes.persist("Current")

# What the configuration guide adds with its plugins, which Ferrokiq builds in: the plugin
# lines are gone from the Gemfile, these stay as they were.
require "sidekiq-scheduler"

# sidekiq-unique-jobs: a job is not pushed while an identical one (same class, queue and
# arguments) waits or runs.
Sidekiq.default_job_options = { "lock" => :until_executed }

Sidekiq.configure_server do |config|
  # A process whose memory stays above 1 GB finishes its jobs and exits, for bin/sidekiq's
  # supervisor (systemd, Kubernetes) to start a fresh one.
  config[:max_memory] = 1024

  # sidekiq-scheduler: the recurring jobs in config/sidekiq_scheduler.yml.
  config.on(:startup) do
    Sidekiq.schedule = YAML.load_file(Rails.root.join("config/sidekiq_scheduler.yml"))
    SidekiqScheduler::Scheduler.instance.reload_schedule!
  end
end
