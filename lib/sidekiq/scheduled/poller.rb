# frozen_string_literal: true

require "sidekiq/component"
require "sidekiq/scheduled/enq"
require "ferrokiq/sleeper"

module Sidekiq
  module Scheduled
    # Sidekiq 7's poller, for code that makes one itself: test suites call
    # `Poller.new(config).enqueue` to move what is due now, and #start repeats that on a thread
    # of its own until #terminate. Ferrokiq's server never starts one: its engine's scheduler
    # moves due jobs within milliseconds of their time (docs/design.md, §5). A started poller
    # waits as Sidekiq's does: `poll_interval_average` seconds between passes on average when
    # set, else `average_scheduled_poll_interval` times the number of live processes, so that
    # the cluster as a whole looks about that often.
    class Poller
      include Sidekiq::Component

      # Seconds a started poller waits before its first pass (plus up to 5 at random), so
      # that processes starting together do not look at once; none when the interval is set.
      INITIAL_WAIT = 10
      # Seconds between passes while the live processes cannot be counted (Redis away).
      ERROR_PAUSE = 5

      # +config+: a Sidekiq::Config (Sidekiq 6 made it without one).
      def initialize(config = Sidekiq.default_configuration)
        @config = config
        @enq = (config[:scheduled_enq] || Enq).new(config)
        @sleeper = Ferrokiq::Sleeper.new
        @done = false
        @thread = nil
      end

      # Moves every due job of the retry and schedule sets to its queue. A failure (Redis away)
      # is logged and reported, and the next pass tries again.
      def enqueue
        @enq.enqueue_jobs
      rescue StandardError => e
        logger.error(e.message)
        handle_exception(e, { context: "Scheduled::Poller" })
      end

      # Starts the thread (once); returns it.
      def start
        return @thread if @thread

        @thread = safe_thread("scheduler") do
          @sleeper.sleep(initial_wait)
          until @done
            enqueue
            @sleeper.sleep(random_poll_interval)
          end
          logger.info("Scheduler exiting...")
        end
      end

      # Stops the thread after its current job and waits for it.
      def terminate
        @done = true
        @enq.terminate if @enq.respond_to?(:terminate)
        thread = @thread
        @thread = nil
        return unless thread

        @sleeper.wake
        thread.value
      end

      private

      def initial_wait
        (@config[:poll_interval_average] ? 0 : INITIAL_WAIT) + (5 * rand)
      end

      # Around the average: below ten processes within half of it either way, so that a small
      # cluster keeps to it; from ten on, anywhere up to it. The live processes are counted once
      # per pass; when Redis cannot say, the failure is reported and the poller waits
      # ERROR_PAUSE, so that a blip does not end its thread.
      def random_poll_interval
        count = process_count
        average = @config[:poll_interval_average] || (count * @config[:average_scheduled_poll_interval])
        count < 10 ? (average * rand) + (average.to_f / 2) : average * rand
      rescue StandardError => e
        logger.error(e.message)
        handle_exception(e, { context: "Scheduled::Poller" })
        ERROR_PAUSE
      end

      def process_count
        [redis { |conn| conn.scard("processes") }.to_i, 1].max
      end
    end
  end
end
