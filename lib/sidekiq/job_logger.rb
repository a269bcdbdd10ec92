# frozen_string_literal: true

module Sidekiq
  # The "start" / "done" / "fail" lines around each job, with class, jid and elapsed time in
  # the context, as Sidekiq 7 writes them.
  class JobLogger
    def initialize(config)
      @config = config
      @logger = config.logger
      @skip = !!config[:skip_default_job_logging]
    end

    def call(_item, _queue)
      start = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC)
      @logger.info("start") unless @skip
      yield
      Sidekiq::Context.add(:elapsed, elapsed(start))
      @logger.info("done") unless @skip
    rescue Exception # rubocop:disable Lint/RescueException
      Sidekiq::Context.add(:elapsed, elapsed(start))
      @logger.info("fail") unless @skip
      raise
    end

    # Sets the job's logging context (and its `log_level`) around the block.
    def prepare(job_hash, &block)
      context = { class: job_hash["display_class"] || job_hash["wrapped"] || job_hash["class"],
                  jid: job_hash["jid"] }
      context[:bid] = job_hash["bid"] if job_hash.key?("bid")
      context[:tags] = job_hash["tags"] if job_hash.key?("tags")
      Thread.current[:sidekiq_context] = context
      level = job_hash["log_level"]
      level && @logger.respond_to?(:log_at) ? @logger.log_at(level, &block) : yield
    ensure
      Thread.current[:sidekiq_context] = nil
    end

    private

    def elapsed(start)
      (::Process.clock_gettime(::Process::CLOCK_MONOTONIC) - start).round(3)
    end
  end
end
