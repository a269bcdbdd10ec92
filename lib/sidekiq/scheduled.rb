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
            move_due(set, job)
            @config.logger.debug { "enqueued #{set}: #{job}" }
          end
        end
      rescue StandardError => e
        @config.handle_exception(e, { context: "Scheduler could not enqueue due jobs" })
      end

      private

      # The pop took the job out of its set: from here it must reach its queue, or the dead set
      # when it cannot be read, or its set again (due at once) while Redis refuses the push.
      def move_due(set, job)
        @client.push(Sidekiq.load_json(job))
      rescue Ferrokiq::RedisError
        put_back(set, job)
        raise
      rescue StandardError => e
        @engine.send_to_morgue(job)
        @config.handle_exception(e, { context: "Moved a #{set} entry that cannot be enqueued to the dead set",
                                      jobstr: job })
      end

      def put_back(set, job)
        @config.redis { |conn| conn.zadd(set, Time.now.to_f, job) }
      rescue Ferrokiq::RedisError => e
        @config.logger.error("Lost a due #{set} job: Redis refused it back (#{e.message}): #{job}")
      end

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
