# frozen_string_literal: true

module Sidekiq
  # The "start" / "done" / "fail" lines around each job, with class, jid and elapsed time in
  # the context, as Sidekiq 7 writes them.
  class JobLogger
    def initialize(config)
      @config = config
      @logger = config.logger
      @skip = config[:skip_default_job_logging] ? true : false
      @core = false
    end

    # Whether the lines can be written by the core: Sidekiq's default logger and layout,
    # writing to standard output.
    def core_capable?
      @logger.instance_of?(Sidekiq::Logger) &&
        @logger.formatter.instance_of?(Sidekiq::Logger::Formatters::Pretty) &&
        @logger.instance_variable_get(:@logdev)&.dev.equal?($stdout) && !@skip
    end

    # From now on jobs without their own log_level are logged by the core (see #core_context).
    def hand_to_core!
      @core = true
    end

    # What the core needs to log this job, or nil when Ruby logs it.
    def core_context(item)
      return unless @core && !item["log_level"] && @logger.level <= ::Logger::INFO

      [item["display_class"] || item["wrapped"] || item["class"], item["jid"], item["bid"], item["tags"]]
    end

    def call(item, _queue, &block)
      return yield if @core && !item["log_level"]

      log_around(&block)
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

    def log_around
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

    def elapsed(start)
      (::Process.clock_gettime(::Process::CLOCK_MONOTONIC) - start).round(3)
    end
  end
end
