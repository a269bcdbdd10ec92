# frozen_string_literal: true

module Sidekiq
  module Scheduled
    SETS = %w[retry schedule].freeze

    # Moves due jobs from the retry and schedule sets to their queues (the pop is a Lua script
    # run by the engine; the re-push goes through the client middleware, as in Sidekiq).
    class Poller
      INITIAL_WAIT = 10

      def initialize(config, engine)
        @config = config
        @engine = engine
        @client = Sidekiq::Client.new(config:)
        @done = false
        @sleeper = Ferrokiq::Sleeper.new
      end

      def start
        @thread = Thread.new do
          Thread.current.name = "sidekiq.scheduler"
          initial_wait
          until @done
            enqueue
            wait(random_poll_interval)
          end
        end
        self
      end

      def terminate
        @done = true
        @sleeper.wake
        @thread&.join(5)
      end

      def enqueue
        SETS.each do |set|
          while !@done && (job = @engine.pop_due(set))
            @client.push(Sidekiq.load_json(job))
            @config.logger.debug { "enqueued #{set}: #{job}" }
          end
        end
      rescue StandardError => e
        @config.handle_exception(e, { context: "Scheduler could not enqueue due jobs" })
      end

      private

      def wait(seconds)
        @sleeper.sleep(seconds)
      end

      def initial_wait
        wait((@config[:poll_interval_average] ? 0 : INITIAL_WAIT) + (5 * rand))
      end

      # Sidekiq's formula: each process polls about every (process count × average) seconds,
      # so the cluster as a whole polls about every `average_scheduled_poll_interval`.
      def random_poll_interval
        average = poll_interval_average
        process_count < 10 ? (average * rand) + (average.to_f / 2) : average * rand
      end

      def poll_interval_average
        @config[:poll_interval_average] || (process_count * @config[:average_scheduled_poll_interval])
      end

      def process_count
        [@config.redis { |conn| conn.scard("processes") }.to_i, 1].max
      rescue StandardError
        1
      end
    end
  end
end
