# frozen_string_literal: true

module Ferrokiq
  # Times each job the way Sidekiq 7's metrics middleware does and hands the result to the
  # engine, which aggregates it in memory and writes it to Redis every 10 seconds in Sidekiq 7's
  # format (docs/wire-format.md §14). What is timed is the server middleware chain with
  # `perform` inside it, in whole milliseconds of the monotonic clock; a job counts as failed
  # when an exception leaves that chain (its time is then not part of the averages), except
  # JobRetry::Skip, which is an interruption and counts as a success.
  class ExecutionMetrics
    # `FERROKIQ_EXECUTION_METRICS=off` turns recording off (for measuring its cost).
    def self.for(engine)
      ENV["FERROKIQ_EXECUTION_METRICS"] == "off" ? Off : new(engine)
    end

    def initialize(engine)
      @engine = engine
    end

    # The engine gets the outcome as false (success) or, for a failure, the exception's class
    # name (the Prometheus endpoint counts failures by error class), or true when none was seen.
    def track(job, queue)
      started = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC, :millisecond)
      failed = true
      begin
        result = yield
        failed = false
        result
      rescue Sidekiq::JobRetry::Skip
        failed = false
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- only noted, and raised again
        failed = e.class.name || true
        raise
      ensure
        elapsed = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC, :millisecond) - started
        @engine.record_execution((job["wrapped"] || job["class"]).to_s, queue, elapsed, failed)
      end
    end

    # Recording turned off: jobs run untimed.
    module Off
      def self.track(_job, _queue)
        yield
      end
    end
  end
end
