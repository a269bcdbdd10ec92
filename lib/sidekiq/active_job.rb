# frozen_string_literal: true

require "active_support"
require "sidekiq/job"

module Sidekiq
  # Active Job on Sidekiq. Rails' own adapter (`queue_adapter = :sidekiq`) enqueues jobs under
  # `ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper`; Sidekiq 8 enqueues them under
  # `Sidekiq::ActiveJob::Wrapper`, which Ferrokiq runs too. Loaded by the Railtie; outside
  # Rails, `require "sidekiq/active_job"` after Active Job.
  module ActiveJob
    # Resolved on first use, so a server sees the class even before it has loaded Active Job.
    autoload :Wrapper, "sidekiq/active_job/wrapper"
  end
end

# `sidekiq_options retry: 3, backtrace: 10` and `sidekiq_retry_in` / `sidekiq_retries_exhausted`
# on Active Job classes: the client merges those options into the pushed job (via `wrapped`) and
# the retry logic calls those hooks.
ActiveSupport.on_load(:active_job) do
  include Sidekiq::Job::Options unless respond_to?(:sidekiq_options)
end
