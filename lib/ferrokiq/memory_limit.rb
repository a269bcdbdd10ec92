# frozen_string_literal: true

module Ferrokiq
  # The memory limit: a process whose RSS stays above `max_memory` megabytes (or
  # SIDEKIQ_MAXMEM_MB, which wins when set) for `max_memory_grace` seconds quiets, gives its
  # running jobs the usual `timeout`, and exits with EXIT_STATUS so that systemd or Kubernetes
  # starts a fresh one (docs/design.md, §22). The RSS is read and judged in Rust.
  class MemoryLimit
    # EX_TEMPFAIL from sysexits.h: "try again later". Non-zero, so `Restart=on-failure` and
    # Kubernetes restart the process; different from 1, an engine failure.
    EXIT_STATUS = 75
    ENV_NAME = "SIDEKIQ_MAXMEM_MB"
    DEFAULT_GRACE = 5

    # nil when no limit is configured.
    def self.from(config, env = ENV)
      megabytes = limit_mb(config, env)
      return nil unless megabytes

      grace = config[:max_memory_grace] || DEFAULT_GRACE
      unless grace.is_a?(Numeric) && !grace.negative?
        raise ArgumentError, "max_memory_grace: #{grace.inspect} is not a valid value (seconds, 0 or more)"
      end

      new(megabytes, grace).tap { |limit| config.logger.info(limit.describe) }
    end

    def self.limit_mb(config, env)
      from_env = env[ENV_NAME].to_s.strip
      value = from_env.empty? ? config[:max_memory] : from_env
      return nil if value.nil?

      megabytes = Integer(value, exception: false)
      return megabytes if megabytes&.positive?

      source = from_env.empty? ? "max_memory" : ENV_NAME
      raise ArgumentError, "#{source}: #{value.inspect} is not a valid value (megabytes, more than 0)"
    end
    private_class_method :limit_mb

    attr_reader :megabytes, :grace

    def initialize(megabytes, grace)
      @megabytes = megabytes
      @grace = grace
      @native = Native::MemoryLimit.new(megabytes, grace.to_f)
    end

    # Called about once a second. The one time the RSS has stayed above the limit for the whole
    # grace period: logs it and starts the orderly shutdown (TERM to itself, as a supervisor
    # would send it), or, +embedded+, only the quiet the block performs, since the host
    # application owns the process.
    def enforce(logger, embedded:)
      rss_kb, seconds = @native.check
      return unless rss_kb

      @reached = true
      why = "Memory limit reached: RSS #{rss_kb / 1024} MB has been above #{@megabytes} MB for #{seconds.round} s"
      if embedded
        logger.warn("#{why}. No longer taking jobs")
        yield
      else
        logger.warn("#{why}. Shutting down; exit status #{EXIT_STATUS}")
        ::Process.kill("TERM", ::Process.pid)
      end
    end

    # The limit was reached: the process is on its way out.
    def reached?
      @reached == true
    end

    def describe
      "Memory limit: #{@megabytes} MB RSS (for #{@grace} s), then a graceful stop with exit status #{EXIT_STATUS}"
    end
  end
end
