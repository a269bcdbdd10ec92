# frozen_string_literal: true

require "logger"
require "time"

# Sidekiq's logging: the logger, its layouts, the per-job context and thread ids.
module Sidekiq
  # The per-thread logging context (class, jid, elapsed, ...) shown in every log line.
  module Context
    def self.with(hash)
      original = current.dup
      current.merge!(hash)
      yield
    ensure
      Thread.current[:sidekiq_context] = original
    end

    def self.current
      Thread.current[:sidekiq_context] ||= {}
    end

    def self.add(key, value)
      current[key] = value
    end
  end

  # Per-thread log levels, so a job's `log_level` option applies to its lines only.
  module LoggingUtils
    LEVELS = { "debug" => 0, "info" => 1, "warn" => 2, "error" => 3, "fatal" => 4 }.freeze

    LEVELS.each do |name, number|
      define_method(:"#{name}?") { local_level.nil? ? super() : local_level <= number }
    end

    def local_level
      Thread.current[:sidekiq_log_level]
    end

    def local_level=(level)
      Thread.current[:sidekiq_log_level] =
        case level
        when Integer, nil then level
        when Symbol, String then LEVELS.fetch(level.to_s) { raise ArgumentError, "Invalid log level: #{level.inspect}" }
        else raise ArgumentError, "Invalid log level: #{level.inspect}"
        end
    end

    def level
      local_level || super
    end

    def log_at(level)
      previous = local_level
      self.local_level = level
      yield
    ensure
      self.local_level = previous
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
          Thread.current[:sidekiq_context] || {}
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
  end
end
