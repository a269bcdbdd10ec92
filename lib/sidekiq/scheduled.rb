# frozen_string_literal: true

require "sidekiq/client"
require "sidekiq/scheduled/enq"
require "sidekiq/scheduled/poller"

module Sidekiq
  # Due jobs of the retry and schedule sets reach their queues through the engine's scheduler,
  # on time (docs/design.md, §5). With client middleware configured the scheduler claims them
  # and the thread here re-pushes each through the middleware, as Sidekiq 7's poller does
  # (docs/design.md, §5.2); periodic ticks' jobs come the same way (docs/design.md, §5.1).
  module Scheduled
    SETS = %w[retry schedule].freeze
    # The engine's name for a periodic tick's job claimed for Ruby (docs/design.md, §5.1).
    PERIODIC = "periodic"

    # Sidekiq 7's re-push of a due job up to the Redis write: the job normalized, then passed
    # through the client middleware (which may change it, or cancel it with nil/false).
    class Repusher < Sidekiq::Client
      # The job to push, or nil when a middleware cancelled it.
      def prepare(item)
        job = normalize_item(item)
        accepted = pass_middleware(item["class"], job) { job }
        return unless accepted

        verify_json(accepted)
        accepted
      end

      # Stores a prepared job with the block (the engine's push of the claimed bytes). A due job
      # keeps the lock taken at its first push, so nothing more is taken here.
      def store(job)
        yield job
      end
    end

    # A periodic tick's job, pushed as sidekiq-scheduler and sidekiq-cron push it through
    # Sidekiq::Client: with the job class itself when it is loaded (its sidekiq_options under the
    # entry's own keys), through the middleware, and with its unique-job lock taken at the push.
    class PeriodicPusher < Repusher
      def prepare(item)
        super(item.merge("class" => job_class(item["class"])))
      end

      # As Client#push: a job with a lock takes it once the middleware agreed; nil when another
      # job holds it (that tick is then dropped). A lock whose job was not pushed (no longer
      # claimed) is given back at once.
      def store(job)
        return yield(job) unless job["lock"]

        Ferrokiq::UniqueJobs::ClientLocks.push(job, redis_pool) do |locked|
          yield(locked).tap { |pushed| release_lock(locked) unless pushed }
        end
      end

      private

      def job_class(name)
        klass = Object.const_get(name.to_s)
        klass.respond_to?(:get_sidekiq_options) ? klass : name
      rescue NameError
        name
      end

      def release_lock(job)
        Ferrokiq::UniqueJobs::ServerLocks.release_all([job], redis_pool) if job["lock_digest"]
      end
    end

    # The thread that takes the jobs the engine's scheduler claimed, runs them through the
    # client middleware and has the engine push them (the push and the end of the claim are one
    # script, so a kill at any point leaves the job claimed or in its queue, never both).
    class HandOff
      # How long one wait for a claimed job lasts (seconds).
      WAIT = 1
      # Pauses between attempts while Redis is away (seconds): doubling up to the maximum.
      FIRST_PAUSE = 0.25
      MAX_PAUSE = 5

      def initialize(config, engine)
        @config = config
        @engine = engine
        @pushers = { PERIODIC => PeriodicPusher.new(config:) }
        @pushers.default = Repusher.new(config:)
        @done = false
        @sleeper = Ferrokiq::Sleeper.new
        @failing = false
      end

      # Runs until the process is quiet and no claimed job is left.
      def start
        @thread = Thread.new do
          Thread.current.name = "sidekiq.scheduler"
          while (claimed = @engine.next_hand_off(WAIT)) != false
            hand_off_reporting(*claimed) if claimed
          end
        end
        self
      end

      # Waits up to +timeout+ for the jobs already claimed (the engine hands out no new ones
      # once quiet). Gives up on one that Redis keeps refusing: still claimed, it goes back to
      # its set at the engine's stop, or through another process's recovery.
      def stop(timeout)
        return unless @thread

        @thread.join(timeout)
        @done = true
        @sleeper.wake
        @thread.join(MAX_PAUSE)
      end

      private

      # A failure nobody expected must not end the thread: later due jobs still need it. The job
      # stays claimed, and goes back to its set at the stop.
      def hand_off_reporting(set, member)
        hand_off(set, member)
      rescue StandardError => e
        @config.handle_exception(e, { context: "Scheduler could not hand a due #{set} job to the client middleware",
                                      jobstr: member })
      end

      def hand_off(set, member)
        attempt(set, member)
      rescue Ferrokiq::RedisError => e
        # The job stays claimed meanwhile; the middleware sees it again at the next attempt.
        outage(e)
        retry unless @sleeper.sleep(pause) || @done
      end

      def attempt(set, member)
        job = prepare(set, member)
        settled = case job
                  when :dead then @engine.hand_off_kill(set, member)
                  when nil then @engine.hand_off_cancel(set, member)
                  else push(set, member, job)
                  end
        back_online
        @config.logger.debug { "enqueued #{set}: #{member}" } if settled
      end

      # The push as the middleware left the job; a lock held by another job (or its conflict
      # strategy raising) drops it, as Sidekiq::Client#push would not push it.
      def push(set, member, job)
        pushed = @pushers[set].store(job) { |stored| @engine.hand_off_push(set, member, stored, Time.now.to_f) }
        pushed.nil? ? @engine.hand_off_cancel(set, member) : pushed
      rescue Ferrokiq::RedisError
        raise
      rescue StandardError => e
        @config.handle_exception(e, { context: "Could not push a #{set} job", jobstr: member })
        @engine.hand_off_cancel(set, member)
      end

      # The job through the middleware; :dead when it cannot be pushed (not a job, or a
      # middleware raised), as the engine treats an unreadable member (docs/design.md, §5).
      def prepare(set, member)
        @pushers[set].prepare(Sidekiq.load_json(member))
      rescue Ferrokiq::RedisError
        raise
      rescue StandardError => e
        @config.handle_exception(e, { context: "Moved a #{set} entry that cannot be enqueued to the dead set",
                                      jobstr: member })
        :dead
      end

      # Once per outage: the scheduler reports the outage itself.
      def outage(error)
        @pause = @failing ? [@pause * 2, MAX_PAUSE].min : FIRST_PAUSE
        return if @failing

        @failing = true
        @config.logger.warn("Could not push a due job claimed for the client middleware: #{error.message}; " \
                            "trying again")
      end

      def pause = @pause || FIRST_PAUSE

      def back_online
        return unless @failing

        @failing = false
        @config.logger.info("Pushing due jobs through the client middleware again")
      end
    end
  end
end
