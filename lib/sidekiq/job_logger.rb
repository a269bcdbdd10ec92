# frozen_string_literal: true

module Sidekiq
  # The "start" / "done" / "fail" lines around each job, with class, jid and elapsed time in
  # the context, as Sidekiq 7 writes them.
  class JobLogger
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
      core_context(item) != false
    end

    # What the core needs to write this job's lines: `[class, jid, bid, tags]`, nil when the
    # logger's level leaves them out, false when Ruby writes them (#core_writes?). One call per
    # job answers both questions.
    def core_context(item)
      return false unless @core && !item["log_level"] && @logger.natively_formatted?

      shown = shown_class(item)
      jid = item["jid"]
      return false unless plain_context?(item, shown, jid)
      return unless @logger.level <= ::Logger::INFO

      [shown, jid, item["bid"], item["tags"]]
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

    def plain_context?(item, shown, jid)
      shown.instance_of?(String) && jid.instance_of?(String) &&
        (!item.key?("bid") || item["bid"].instance_of?(String)) &&
        (!item.key?("tags") || (item["tags"].instance_of?(Array) && item["tags"].all?(String)))
    end

    def context_of(item)
      context = { class: shown_class(item), jid: item["jid"] }
      # Unrolled (no block per job), in log-line order.
      context[:bid] = item["bid"] if item.key?("bid")
      context[:tags] = item["tags"] if item.key?("tags")
      context
    end

    # Wrappers such as Active Job's name the user's class in "wrapped"; "display_class" wins.
    def shown_class(item)
      item["display_class"] || item["wrapped"] || item["class"]
    end
  end
end
