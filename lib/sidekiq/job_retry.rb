# frozen_string_literal: true

module Sidekiq
  # What happens when a job raises (wire-format §5, Sidekiq 7 semantics): the retry count,
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
    rescue Handled, Sidekiq::Shutdown
      raise
    rescue Exception => e # rubocop:disable Lint/RescueException
      msg = failed_job(e, jobstr)
      if msg["retry"]
        process_retry(nil, msg, queue, e)
      else
        run_death_handlers(msg, e)
      end
      raise Handled
    end

    # Around the job's middleware and perform, with the job instance for the class's hooks.
    def local(jobinst, jobstr, queue)
      yield
    rescue Handled, Sidekiq::Shutdown
      raise
    rescue Exception => e # rubocop:disable Lint/RescueException
      msg = failed_job(e, jobstr)
      msg["retry"] = jobinst.class.get_sidekiq_options["retry"] if msg["retry"].nil?
      raise e unless msg["retry"]

      process_retry(jobinst, msg, queue, e)
      raise Handled
    end

    private

    # The job as it was fetched (not as middleware changed it), unless the failure was a
    # shutdown interrupting it: that job is already back on its queue.
    def failed_job(exception, jobstr)
      raise Sidekiq::Shutdown if caused_by_shutdown?(exception)

      Sidekiq.load_json(jobstr)
    end

    def process_retry(jobinst, msg, queue, exception)
      max = attempts(msg["retry"])
      msg["queue"] = msg["retry_queue"] || queue
      msg["error_message"] = exception_message(exception)
      msg["error_class"] = exception.class.name
      count = record_failure(msg)
      add_backtrace(msg, exception) if msg["backtrace"]

      return retries_exhausted(jobinst, msg, exception) if count >= max
      return retries_exhausted(jobinst, msg, exception) if retry_window_over?(msg)

      strategy, delay = delay_for(jobinst, count, exception, msg)
      case strategy
      when :discard then nil
      when :kill then retries_exhausted(jobinst, msg, exception)
      else @engine.schedule_retry(Sidekiq.dump_json(msg), Time.now.to_f + delay)
      end
    end

    def attempts(retry_option)
      retry_option.is_a?(Integer) ? retry_option : @max_retries
    end

    # Sets failed_at (first failure) or retried_at; returns the new retry_count (0 first).
    def record_failure(msg)
      if msg["retry_count"]
        msg["retried_at"] = Time.now.to_f
        msg["retry_count"] += 1
      else
        msg["failed_at"] = Time.now.to_f
        msg["retry_count"] = 0
      end
    end

    def add_backtrace(msg, exception)
      lines = @backtrace_cleaner.call(exception.backtrace || [])
      lines = lines[0...msg["backtrace"].to_i] unless msg["backtrace"] == true
      msg["error_backtrace"] = Ferrokiq::Native.compress_backtrace(lines.map(&:to_s))
    end

    def retry_window_over?(msg)
      window = msg["retry_for"]
      failed_at = msg["failed_at"]
      return false unless window && failed_at

      failed_at /= 1000.0 if failed_at.is_a?(Integer) # Sidekiq 8 writes milliseconds
      failed_at + window < Time.now.to_f
    end

    # [:default, seconds], [:discard, nil] or [:kill, nil].
    def delay_for(jobinst, count, exception, msg)
      chosen = custom_delay(jobinst, count, exception, msg)
      chosen = chosen.to_i if chosen.respond_to?(:to_i)
      return [:discard, nil] if chosen == :discard
      return [:kill, nil] if chosen == :kill
      return [:default, chosen + Ferrokiq::Native.retry_jitter(count)] if chosen.is_a?(Integer) && chosen.positive?

      [:default, Ferrokiq::Native.retry_delay(count)]
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

    def retries_exhausted(jobinst, msg, exception)
      outcome = begin
        hook(jobinst, msg, :sidekiq_retries_exhausted_block)&.call(msg, exception)
      rescue Exception => e # rubocop:disable Lint/RescueException
        handle_exception(e, { context: "Error calling retries_exhausted", job: msg })
        nil
      end
      return if outcome == :discard

      send_to_morgue(msg) unless msg["dead"] == false
      run_death_handlers(msg, exception)
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

    def exception_message(exception)
      message = begin
        exception.message.to_s[0, MESSAGE_LIMIT]
      rescue StandardError
        "!!! ERROR MESSAGE THREW AN ERROR !!!"
      end
      message = message.dup.force_encoding(Encoding::UTF_8)
      message.valid_encoding? ? message : message.scrub
    end

    def caused_by_shutdown?(exception, seen = [])
      return false unless exception.cause
      return false if seen.include?(exception.cause.object_id)

      seen << exception.cause.object_id
      exception.cause.is_a?(Sidekiq::Shutdown) || caused_by_shutdown?(exception.cause, seen)
    end

    def handle_exception(exception, context)
      @config.handle_exception(exception, context)
    end
  end
end
