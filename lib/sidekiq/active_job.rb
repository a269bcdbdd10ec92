# frozen_string_literal: true

require "active_support"
require "sidekiq/job"
require "sidekiq/active_job/wrapper"

module Sidekiq
  # Active Job on Sidekiq. Ferrokiq's adapter (`queue_adapter = :sidekiq`) enqueues jobs under
  # `ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper`, as Sidekiq 7 and Rails' own adapter
  # do; Sidekiq 8 enqueues them under `Sidekiq::ActiveJob::Wrapper`, which Ferrokiq runs too.
  # Loaded by the Railtie; outside Rails, `require "sidekiq/active_job"` after Active Job.
  module ActiveJob
    # Ferrokiq's adapter in place of the one Rails ships (6.1 does), and `sidekiq_options
    # retry: 3, backtrace: 10` plus `sidekiq_retry_in` / `sidekiq_retries_exhausted` on
    # Active Job classes: the client merges those options into the pushed job (via `wrapped`)
    # and the retry logic calls those hooks. Run with ActiveJob::Base once it loads.
    def self.integrate(job_base)
      load_adapter
      return if job_base.respond_to?(:sidekiq_options) # the app (or an earlier load) did it

      job_base.include(Sidekiq::Job::Options)
    end

    # A server calls this before its worker threads start. Left to the first jobs, two threads
    # may load the adapter at once by different routes (Active Job's autoload of SidekiqAdapter,
    # the `require` below), and Ruby's autoload and require locks can deadlock them.
    def self.load_adapter
      # By path: the load path may find Rails' adapter of the same name first.
      require_relative "../active_job/queue_adapters/sidekiq_adapter"
    end
  end
end

ActiveSupport.on_load(:active_job) { |job_base| Sidekiq::ActiveJob.integrate(job_base) }
