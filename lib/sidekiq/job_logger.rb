# frozen_string_literal: true

module Sidekiq
  # The "start" / "done" / "fail" lines around each job, with class, jid and elapsed time in
  # the context, as Sidekiq 7 writes them.
  class JobLogger
    # Payload fields that join the context only when the job carries them, in log-line order.
    OPTIONAL_CONTEXT = { "bid" => :bid, "tags" => :tags }.freeze
    private_constant :OPTIONAL_CONTEXT

    def initialize(config)
      @config = config
      @logger = config.logger
      @writes_lines = !config[:skip_default_job_logging]
      # Decided once: a job's own log_level needs a logger that keeps levels per thread.
      @honours_job_levels = @logger.respond_to?(:log_at)
      @core = false
    end

    # False with `skip_default_job_logging`.
    def writes_lines?
      @writes_lines
    end

    # From now on jobs without their own log_level are logged by the core (see #core_context).
    def hand_to_core!
      @core = true
    end

    # True when the core writes this job's lines, so #call is not needed. A job with its own
    # log_level stays with Ruby: only Ruby's logger knows the per-thread level. So does a job
    # whose context holds anything but Strings, which Ruby renders its own way, and every job
    # while the logger has a formatter the core cannot imitate.
    def core_writes?(item)
      @core && !item["log_level"] && @logger.natively_formatted? && plain_context?(item)
    end

    # What the core needs to log a job it writes the lines of (#core_writes?), or nil when the
    # logger's level leaves them out.
    def core_context(item)
      return unless @logger.level <= ::Logger::INFO

      [shown_class(item), item["jid"], item["bid"], item["tags"]]
    end

    def call(_item, _queue)
      started = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC)
      outcome = "fail" # until the block returns
      @logger.info("start") if @writes_lines
      yield
      outcome = "done"
    ensure
      # Recorded even when no line is written: a retry's lines for this job still show it.
      Sidekiq::Context.add(:elapsed, (::Process.clock_gettime(::Process::CLOCK_MONOTONIC) - started).round(3))
      @logger.info(outcome) if @writes_lines
    end

    # The job's context for everything logged while it is handled (retries included), and its
    # own log_level when it has one; idle lines afterwards carry no context.
    def prepare(job_hash, &block)
      Thread.current[Context::SLOT] = context_of(job_hash)
      level = job_hash["log_level"]
      level && @honours_job_levels ? @logger.log_at(level, &block) : yield
    ensure
      Thread.current[Context::SLOT] = nil
    end

    private

    def plain_context?(item)
      shown_class(item).instance_of?(String) && item["jid"].instance_of?(String) &&
        (!item.key?("bid") || item["bid"].instance_of?(String)) &&
        (!item.key?("tags") || (item["tags"].instance_of?(Array) && item["tags"].all?(String)))
    end

    def context_of(item)
      context = { class: shown_class(item), jid: item["jid"] }
      OPTIONAL_CONTEXT.each { |field, key| context[key] = item[field] if item.key?(field) }
      context
    end

    # Wrappers such as Active Job's name the user's class in "wrapped"; "display_class" wins.
    def shown_class(item)
      item["display_class"] || item["wrapped"] || item["class"]
    end
  end
end
