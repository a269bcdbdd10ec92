# frozen_string_literal: true

require "logger"
require "time"

# Sidekiq's logging: the logger, its layouts, the per-job context and thread ids.
module Sidekiq
  # The per-thread logging context (class, jid, elapsed, ...) shown in every log line.
  module Context
    # Where the hash lives: Thread#[] is fiber-local, so each fiber logs its own job.
    SLOT = :sidekiq_context
    NONE = {}.freeze
    private_constant :NONE

    def self.current
      Thread.current[SLOT] ||= {}
    end

    def self.add(key, value)
      current.store(key, value)
    end

    # The block sees the extra entries on top of the current ones; afterwards the hash that
    # was there before is back untouched, so entries added inside the block go too.
    def self.with(extra)
      outer = Thread.current[SLOT]
      Thread.current[SLOT] = (outer || NONE).merge(extra)
      yield
    ensure
      Thread.current[SLOT] = outer
    end
  end

  # Per-thread log levels, so a job's `log_level` option applies to its lines only.
  module LoggingUtils
    LEVELS = { "debug" => ::Logger::DEBUG, "info" => ::Logger::INFO, "warn" => ::Logger::WARN,
               "error" => ::Logger::ERROR, "fatal" => ::Logger::FATAL }.freeze
    LEVEL_SLOT = :sidekiq_log_level
    private_constant :LEVEL_SLOT

    # The numeric severity for a level given as a number, name or symbol (nil stays nil).
    def self.severity(level)
      case level
      when Integer, nil then level
      when Symbol, String then LEVELS.fetch(level.to_s) { raise ArgumentError, "Invalid log level: #{level.inspect}" }
      else raise ArgumentError, "Invalid log level: #{level.inspect}"
      end
    end

    def local_level
      Thread.current[LEVEL_SLOT]
    end

    def local_level=(level)
      Thread.current[LEVEL_SLOT] = LoggingUtils.severity(level)
    end

    # This thread's level, while one is set, overrides the logger's own; the predicates below
    # derive from it so that loggers whose own predicates read @level still obey it.
    def level
      local_level || super
    end

    def debug? = level <= ::Logger::DEBUG
    def info? = level <= ::Logger::INFO
    def warn? = level <= ::Logger::WARN
    def error? = level <= ::Logger::ERROR
    def fatal? = level <= ::Logger::FATAL

    # Nestable: the level in force before the block is back afterwards. A bad level is refused
    # before anything changes.
    def log_at(level)
      severity = LoggingUtils.severity(level)
      outer = local_level
      begin
        Thread.current[LEVEL_SLOT] = severity
        yield
      ensure
        Thread.current[LEVEL_SLOT] = outer
      end
    end
  end

  # Sidekiq's short thread id, as log lines and busy-work records show it.
  def self.tid(thread = Thread.current)
    thread["sidekiq_tid"] ||= (thread.object_id ^ ::Process.pid).to_s(36)
  end

  # A Ruby Logger whose lines look like Sidekiq's:
  # "2024-01-01T00:00:00.000Z pid=12 tid=abc INFO: message".
  class Logger < ::Logger
    # Line layouts, as in Sidekiq.
    module Formatters
      # Shared pieces of Sidekiq's log layouts.
      class Base < ::Logger::Formatter
        def tid
          Sidekiq.tid
        end

        def context
          Thread.current[Context::SLOT] || {}
        end

        def format_context
          return "" if context.empty?

          " #{context.compact.map { |key, value| "#{key}=#{value.is_a?(Array) ? value.join(",") : value}" }.join(" ")}"
        end
      end

      # Human-readable lines for a terminal or a log file.
      class Pretty < Base
        def call(severity, time, _program_name, message)
          "#{time.utc.iso8601(3)} pid=#{::Process.pid} tid=#{tid}#{format_context} #{severity}: #{message}\n"
        end
      end

      # The same without the timestamp, for platforms that add their own.
      class WithoutTimestamp < Pretty
        def call(severity, _time, _program_name, message)
          "pid=#{::Process.pid} tid=#{tid}#{format_context} #{severity}: #{message}\n"
        end
      end

      # One JSON object per line.
      class JSON < Base
        def call(severity, time, _program_name, message)
          hash = { "ts" => time.utc.iso8601(3), "pid" => ::Process.pid, "tid" => tid,
                   "lvl" => severity, "msg" => message }
          hash["ctx"] = context unless context.empty?
          "#{::JSON.generate(hash)}\n"
        end
      end
    end

    include LoggingUtils

    def initialize(*args, **kwargs)
      super
      self.formatter = Formatters::Pretty.new
    end

    # @api private
    # Writes to +io+ from now on (see Ferrokiq::LogPipe), keeping level and formatter.
    def write_to(io)
      @logdev = ::Logger::LogDevice.new(io)
    end
  end
end
