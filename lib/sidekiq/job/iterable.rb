# frozen_string_literal: true

require "sidekiq/job/iterable/state"
require "sidekiq/job/iterable/enumerators"

module Sidekiq
  module Job
    # Raised out of an iterable job's #perform when it stopped before the end of its items
    # (the process is stopping, or the run reached max_iteration_runtime). The server's
    # InterruptHandler puts the job back on its queue; its cursor is in Redis already.
    class Interrupted < ::RuntimeError; end

    # What `include Sidekiq::IterableJob` adds (docs/design.md, §20): #perform becomes
    #   build_enumerator(*args, cursor:)  an Enumerator yielding [item, cursor] pairs
    #   each_iteration(item, *args)       called for each item
    # with the cursor saved in Redis so that a run interrupted by a shutdown, or re-queued by
    # its runtime limit, resumes at the item it stopped on. Hooks: on_start (first run),
    # on_resume (later runs), on_stop (every run's end), on_complete (all items done or the job
    # cancelled), around_iteration (wraps each item).
    #
    # Per item, Ruby sets the cursor and asks the native clock whether a checkpoint is due;
    # interruption, the runtime limit, the state flush (every STATE_FLUSH_INTERVAL seconds) and
    # cancellation are looked at only at checkpoints.
    module Iterable
      include Enumerators

      # How often the state is written to Redis during a run, which is also how often a
      # cancellation from elsewhere is noticed.
      STATE_FLUSH_INTERVAL = 5
      # How often a run checks whether the process is stopping or the runtime limit is reached.
      CHECKPOINT_INTERVAL = 0.1
      STATE_TTL = State::TTL

      def self.included(base)
        base.extend(ClassMethods)
      end

      # Class-level guard: an iterable job's #perform is Sidekiq's.
      module ClassMethods
        def method_added(name)
          raise "#{self} is an iterable job and must not define #perform" if name == :perform

          super
        end
      end

      def initialize
        super
        @_executions = 0
        @_cursor = nil
        @_runtime = 0.0
        @_args = nil
        @_cancelled = nil
        @_clock = nil
      end

      # The job's arguments, frozen.
      def arguments
        @_args
      end

      # The cursor of the current item (the one to resume at).
      def cursor
        @_cursor.freeze
      end

      def iteration_key
        State.key(jid)
      end

      # Marks this job cancelled in Redis; the run stops at its next state flush. Returns the
      # cancellation time (epoch seconds).
      def cancel!
        return @_cancelled if cancelled?

        @_cancelled = Sidekiq.redis { |conn| State.cancel(conn, jid) }
      end

      # Truthy once this run has seen that the job was cancelled.
      def cancelled?
        @_cancelled
      end

      def on_start; end

      def on_resume; end

      def on_stop; end

      def on_complete; end

      def around_iteration
        yield
      end

      def build_enumerator(*)
        raise NotImplementedError, "#{self.class.name} must implement a '#build_enumerator' method"
      end

      def each_iteration(*)
        raise NotImplementedError, "#{self.class.name} must implement an '#each_iteration' method"
      end

      def perform(*args)
        @_args = args.dup.freeze
        state = State.read(jid)
        resume_from(state)
        @_executions += 1

        enumerator = build_enumerator(*args, cursor: @_cursor)
        return logger.info("'#build_enumerator' returned nil, skipping the job.") if enumerator.nil?

        check_enumerator(enumerator)
        @_executions == 1 ? on_start : on_resume
        outcome = catch(:abort) { iterate(enumerator, args, state["cancelled"]) }
        on_stop
        conclude(outcome)
      end

      private

      def resume_from(state)
        return if state.empty?

        @_executions = state["ex"].to_i
        @_cursor = Sidekiq.load_json(state["c"]) if state["c"]
        @_runtime = state["rt"].to_f
      end

      def check_enumerator(enumerator)
        return if enumerator.is_a?(Enumerator)

        raise ArgumentError, "#build_enumerator must return an Enumerator, but returned #{enumerator.class}; " \
                             "e.g. `array_enumerator(items, cursor: cursor)`"
      end

      # True when every item was done or the job was cancelled, false when the run stopped
      # early. The hot loop: a cursor assignment and one native call per item besides the
      # job's own work.
      def iterate(enumerator, args, cancelled_at)
        return cancelled(cancelled_at) if cancelled_at

        clock = @_clock = Ferrokiq::Native::IterationClock.new(CHECKPOINT_INTERVAL, STATE_FLUSH_INTERVAL,
                                                               max_iteration_runtime)
        wrapped = wraps_iterations?
        polls = polls_interruption?
        enumerator.each do |item, cursor|
          @_cursor = cursor
          interrupted_now = polls ? interrupted? : nil
          stop = checkpoint(clock, interrupted_now) if clock.tick || interrupted_now
          return stop == :cancelled if stop

          # Spelled out: a splat of no arguments still costs an allocation per item.
          if wrapped
            around_iteration { each_iteration(item, *args) }
          elsif args.empty?
            each_iteration(item)
          else
            each_iteration(item, *args)
          end
        end
        logger.debug("Enumerator found nothing to iterate!") if clock.iterations.zero?
        true
      rescue Exception # rubocop:disable Lint/RescueException
        # Failed on the item at the cursor: save it, so a retry starts there.
        save_progress_after_failure
        raise
      ensure
        finish_run
      end

      # Interruption and the runtime limit are checked at every checkpoint, the state is
      # flushed only every STATE_FLUSH_INTERVAL or when stopping. +interrupted_now+ is what a
      # class's own interrupted? said for this item, nil when it was not asked. Returns nil to
      # carry on, :cancelled or :interrupted.
      def checkpoint(clock, interrupted_now)
        warn_if_slow(clock.take_longest_gap)
        stopping = stop_reason(clock, interrupted_now)
        return unless stopping || clock.flush_due?

        cancelled_at = save_progress
        if cancelled_at
          cancelled(cancelled_at)
          return :cancelled
        end

        logger.info("Interrupting job at cursor #{@_cursor.inspect}: #{stopping}") if stopping
        :interrupted if stopping
      end

      def stop_reason(clock, interrupted_now)
        if interrupted_now
          "the job's interrupted? is true"
        elsif interrupted_now.nil? && interrupted?
          "the process is stopping"
        elsif clock.over_limit?
          "max_iteration_runtime (#{max_iteration_runtime}s) reached"
        end
      end

      # Returns the cancellation time when the job was cancelled meanwhile.
      def save_progress
        runtime = @_runtime + (@_clock ? @_clock.elapsed : 0)
        cancelled_at = State.write(jid, executions: @_executions, cursor: @_cursor, runtime:)
        @_clock&.flushed!
        cancelled_at
      end

      def save_progress_after_failure
        save_progress
      rescue StandardError => e
        logger.warn("Could not save the cursor of #{self.class.name} #{jid}: #{e.message}")
      end

      def cancelled(cancelled_at)
        @_cancelled = cancelled_at.to_i
        logger.info("Job cancelled")
        true
      end

      def finish_run
        clock = @_clock
        return unless clock

        @_clock = nil
        @_runtime += clock.elapsed
        warn_if_slow(clock.finish)
      end

      def conclude(outcome)
        case outcome
        when true, nil # nil: `throw :abort` asks to end the job as complete
          on_complete
          logger.debug { "Completed iteration. executions=#{@_executions} runtime=#{@_runtime.round(3)}" }
          State.delete(jid)
        when false
          logger.debug { "Interrupting job (cursor=#{@_cursor.inspect})" }
          raise Interrupted
        else
          raise "Unexpected thrown value: #{outcome.inspect}"
        end
      end

      # An item (with the fetching of the next one) that takes longer than the shutdown
      # timeout cannot be interrupted cleanly at a deploy.
      def warn_if_slow(seconds)
        limit = Sidekiq.default_configuration[:timeout]
        return unless limit && seconds > limit

        logger.warn(format("An iteration of %s took %.2fs, longer than the shutdown timeout (%ds): a deploy " \
                           "may interrupt it halfway", self.class.name, seconds, limit))
      end

      # The class's `sidekiq_options max_iteration_runtime:`, else the server's
      # `config[:max_iteration_runtime]`; nil for no limit.
      def max_iteration_runtime
        self.class.get_sidekiq_options["max_iteration_runtime"] ||
          Sidekiq.default_configuration[:max_iteration_runtime]
      end

      # The per-item block call is skipped unless the class has its own around_iteration.
      def wraps_iterations?
        method(:around_iteration).owner != Iterable
      end

      # A class with its own interrupted? (a condition of its own, as sidekiq-iteration jobs
      # and Sidekiq's tests have) is asked before every item, as Sidekiq 7.3 does; the
      # processor's answer only changes at quiet, so checkpoints are enough for it.
      def polls_interruption?
        method(:interrupted?).owner != Sidekiq::Job
      end
    end
  end
end
