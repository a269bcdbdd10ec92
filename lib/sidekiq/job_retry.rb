# frozen_string_literal: true

require "ferrokiq/timestamp"

module Sidekiq
  # What happens when a job raises (docs/wire-format.md §5, Sidekiq 7 semantics): the retry count,
  # the error fields, the delay (Rust computes it, with `sidekiq_retry_in` able to override),
  # the retry set, and on exhaustion the `sidekiq_retries_exhausted` hook, the dead set and the
  # death handlers.
  class JobRetry
    # The failure was handled (a retry scheduled, or the job killed); the processor acks it.
    class Handled < ::RuntimeError; end

    # The job failed but needs no retry, log or error handlers.
    class Skip < Handled; end

    DEFAULT_MAX_RETRY_ATTEMPTS = 25
    MESSAGE_LIMIT = 10_000

    # What a `sidekiq_retry_in` block may return instead of seconds.
    RETRY_IN_SYMBOLS = { discard: :discard, kill: :exhausted }.freeze
    private_constant :RETRY_IN_SYMBOLS

    def initialize(config, engine)
      @config = config
      @engine = engine
      @max_retries = config[:max_retries] || DEFAULT_MAX_RETRY_ATTEMPTS
      @backtrace_cleaner = config[:backtrace_cleaner]
    end

    # Around everything, including class lookup: an unknown class is retried by the default
    # rules (no class hooks); `retry: false` goes to the death handlers only.
    def global(jobstr, queue)
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException
      raise if settled_elsewhere?(e)

      job = job_as_fetched(jobstr, e)
      storing(jobstr, e) do
        if job["retry"]
          process_retry(nil, job, queue, e)
        else
          declare_dead(job, e, keep_in_dead_set: false)
        end
      end
      raise Handled
    end

    # Around the job's middleware and perform, with the job instance for the class's hooks.
    # A job the class does not retry goes on to `global`, which tells the death handlers.
    def local(jobinst, jobstr, queue)
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException
      raise if settled_elsewhere?(e)

      job = job_as_fetched(jobstr, e)
      raise e unless adopt_class_retry_option(job, jobinst)

      storing(jobstr, e) { process_retry(jobinst, job, queue, e) }
      raise Handled
    end

    private

    # Writing a failure can itself fail. When Redis does (down, out of memory), the error goes
    # on: the job stays unacknowledged and the engine's sweep runs it again later. Any other
    # error means the job cannot be written back at all (args that parse but do not serialize,
    # such as 1e400 read as Infinity; a corrupt retry_count): it would fail the same way every
    # time, so it goes to the dead set exactly as it was fetched.
    def storing(jobstr, job_failure)
      yield
    rescue Ferrokiq::RedisError
      raise
    rescue StandardError => e
      dead_as_fetched(jobstr, job_failure, e)
    end

    def dead_as_fetched(jobstr, job_failure, write_failure)
      job = Sidekiq.load_json(jobstr)
      @engine.send_to_morgue(jobstr)
      handle_exception(write_failure, { context: "Could not write the failure of job #{job["jid"]} (#{job["class"]}) " \
                                                 "back to Redis; moved it to the dead set as it was fetched",
                                        job:, jobstr: })
      run_death_handlers(job, job_failure)
    end

    # `local` has already dealt with a Handled; a shutdown's job is put back on its queue by
    # the launcher, so retrying it as well would run it twice.
    def settled_elsewhere?(exception)
      exception.is_a?(Handled) || exception.is_a?(Sidekiq::Shutdown)
    end

    # The job as it was fetched (not as middleware changed it), unless the failure was a
    # shutdown interrupting it: that job is already back on its queue.
    def job_as_fetched(jobstr, exception)
      raise Sidekiq::Shutdown if caused_by_shutdown?(exception)

      Sidekiq.load_json(jobstr)
    end

    # The job's own `retry` wins; without one it takes the class's. Returns the outcome.
    def adopt_class_retry_option(job, jobinst)
      return job["retry"] unless job["retry"].nil?

      job["retry"] = jobinst.class.get_sidekiq_options["retry"]
    end

    def process_retry(jobinst, job, queue, exception)
      attempt = FailedAttempt.new(exception, queue, @backtrace_cleaner).write_to(job)
      plan = retry_plan(jobinst, job, attempt, exception)
      case plan
      when Numeric then @engine.schedule_retry(Sidekiq.dump_json(job), Time.now.to_f + plan)
      when :exhausted then retries_exhausted(jobinst, job, exception)
      end
      # :discard (from `sidekiq_retry_in`) leaves no trace: no retry, no dead set, no handlers.
    end

    # Seconds until the next run, :exhausted (out of attempts or time, or the class said
    # :kill) or :discard.
    def retry_plan(jobinst, job, attempt, exception)
      return :exhausted if attempt >= attempts_allowed(job["retry"]) || retry_window_over?(job)

      answer = custom_delay(jobinst, attempt, exception, job)
      answer = answer.to_i if answer.respond_to?(:to_i)
      RETRY_IN_SYMBOLS.fetch(answer) { seconds_until_retry(answer, attempt) }
    end

    # The class's positive answer gets jitter too, so that jobs failing together spread out.
    def seconds_until_retry(answer, attempt)
      if answer.is_a?(Integer) && answer.positive?
        answer + Ferrokiq::Native.retry_jitter(attempt)
      else
        Ferrokiq::Native.retry_delay(attempt)
      end
    end

    # `retry: true` means the configured maximum; an Integer is the job's own.
    def attempts_allowed(retry_option)
      retry_option.is_a?(Integer) ? retry_option : @max_retries
    end

    def retry_window_over?(msg)
      window = msg["retry_for"]
      failed_at = Ferrokiq::Timestamp.seconds(msg["failed_at"]) # 6.4/7 seconds or 8.x milliseconds
      return false unless window && failed_at

      failed_at + window < Time.now.to_f
    end

    def custom_delay(jobinst, count, exception, msg)
      block = hook(jobinst, msg, :sidekiq_retry_in_block)
      return unless block

      block.call(count, exception, msg)
    rescue Exception => e # rubocop:disable Lint/RescueException
      class_name = jobinst ? jobinst.class.name : msg["class"]
      handle_exception(e, { context: "Failure scheduling retry using the defined `sidekiq_retry_in` in " \
                                     "#{class_name}, falling back to default" })
      nil
    end

    # The job class's hook, or the wrapped Active Job class's.
    def hook(jobinst, msg, name)
      return jobinst.public_send(name) if jobinst.respond_to?(name) && jobinst.public_send(name)

      wrapped = msg["wrapped"] && Object.const_get(msg["wrapped"])
      wrapped.public_send(name) if wrapped.respond_to?(name)
    rescue NameError
      nil
    end

    # Out of retries. The class's `sidekiq_retries_exhausted` may answer :discard to drop the
    # job without a word; otherwise it is declared dead.
    def retries_exhausted(jobinst, job, exception)
      return if exhausted_hook_answer(jobinst, job, exception) == :discard

      declare_dead(job, exception, keep_in_dead_set: job["dead"] != false)
    end

    def exhausted_hook_answer(jobinst, job, exception)
      hook(jobinst, job, :sidekiq_retries_exhausted_block)&.call(job, exception)
    rescue Exception => e # rubocop:disable Lint/RescueException
      handle_exception(e, { context: "Error calling retries_exhausted", job: })
      nil
    end

    # The dead set keeps a job for inspection and a manual retry. One that opted out
    # (`dead: false`), or was never to be retried (`retry: false`), is only reported.
    def declare_dead(job, exception, keep_in_dead_set:)
      send_to_morgue(job) if keep_in_dead_set
      release_unique_locks(job) if job["lock"]
      run_death_handlers(job, exception)
    end

    # A unique job's locks die with it, as the plugin's death handler does (docs/design.md, §24).
    def release_unique_locks(job)
      Ferrokiq::UniqueJobs::ServerLocks.release_dead(job)
    rescue StandardError => e
      handle_exception(e, { context: "Releasing the locks of a dead job", job: })
    end

    def send_to_morgue(msg)
      @config.logger.info { "Adding dead #{msg["class"]} job #{msg["jid"]}" }
      @engine.send_to_morgue(Sidekiq.dump_json(msg))
    end

    def run_death_handlers(msg, exception)
      @config.death_handlers.each do |handler|
        handler.call(msg, exception)
      rescue Exception => e # rubocop:disable Lint/RescueException
        handle_exception(e, { context: "Error calling death handler", job: msg })
      end
    end

    # Anywhere down the cause chain (Ruby refuses to make a chain that loops).
    def caused_by_shutdown?(exception)
      link = exception.cause
      link = link.cause until link.nil? || link.is_a?(Sidekiq::Shutdown)
      !link.nil?
    end

    def handle_exception(exception, context)
      @config.handle_exception(exception, context)
    end

    # One failed run, written into its job as the fields Sidekiq's tools read (docs/wire-format.md §5.2).
    class FailedAttempt
      UNREADABLE_MESSAGE = "!!! ERROR MESSAGE THREW AN ERROR !!!"

      def initialize(exception, fetched_from, backtrace_cleaner)
        @exception = exception
        @fetched_from = fetched_from
        @backtrace_cleaner = backtrace_cleaner
      end

      # Updates +job+ in place; returns its new retry_count, 0 on the first failure.
      def write_to(job)
        job.merge!(destination(job), error_fields, attempt_fields(job["retry_count"], Time.now.to_f))
        depth = job["backtrace"]
        job["error_backtrace"] = compressed_backtrace(depth) if depth
        job["retry_count"]
      end

      private

      # A job may ask for its retries to run on another queue than the one it came from.
      def destination(job)
        { "queue" => job["retry_queue"] || @fetched_from }
      end

      def error_fields
        { "error_message" => message, "error_class" => @exception.class.name }
      end

      # The first failure stamps failed_at, which `retry_for` counts from; later ones retried_at.
      def attempt_fields(previous_count, now)
        return { "failed_at" => now, "retry_count" => 0 } unless previous_count

        { "retried_at" => now, "retry_count" => previous_count + 1 }
      end

      # `backtrace: true` keeps every line, an Integer that many.
      def compressed_backtrace(depth)
        lines = @backtrace_cleaner.call(@exception.backtrace || [])
        lines = lines[0...depth.to_i] unless depth == true
        Ferrokiq::Native.compress_backtrace(lines.map(&:to_s))
      end

      # Capped, since app code may put anything in a message, and made valid UTF-8 so that
      # the job still serializes to JSON.
      def message
        text = begin
          @exception.message.to_s[0, MESSAGE_LIMIT]
        rescue StandardError
          UNREADABLE_MESSAGE
        end
        text = text.dup.force_encoding(Encoding::UTF_8)
        text.valid_encoding? ? text : text.scrub
      end
    end
    private_constant :FailedAttempt
  end
end
