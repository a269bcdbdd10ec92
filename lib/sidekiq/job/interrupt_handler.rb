# frozen_string_literal: true

require "sidekiq/client"
require "sidekiq/job_retry"

module Sidekiq
  module Job
    # Server middleware: an iterable job that stopped early (Sidekiq::Job::Interrupted, its
    # cursor already in Redis) goes back on its queue as it is, to resume at the next fetch;
    # the run then counts as done, not failed (JobRetry::Skip: no retry, no error report).
    class InterruptHandler
      include Sidekiq::ServerMiddleware

      def call(_instance, job, _queue)
        yield
      rescue Interrupted
        settings = config || Sidekiq.default_configuration # nil when built outside a chain
        settings.logger.debug("Interrupted, re-queueing...")
        Sidekiq::Client.new(config: settings).push(job)
        raise Sidekiq::JobRetry::Skip
      end
    end
  end
end

# Outermost of the app's server middleware, as in Sidekiq 7.3 (cli.rb requires this file).
Sidekiq.configure_server do |config|
  config.server_middleware { |chain| chain.add(Sidekiq::Job::InterruptHandler) }
end
