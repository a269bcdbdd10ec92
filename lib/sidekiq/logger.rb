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

    # Every logger of this class made in this process, weakly held, by object id, for a server
    # to find at start (Ferrokiq::NativeLog). The logger is the value, not the key: iterated by
    # key, Ruby 3.1's WeakMap once yielded a collected logger (spec/ferrokiq/native_log_spec.rb,
    # after earlier examples' loggers had died), whose ivars were garbage.
    MADE = ObjectSpace::WeakMap.new

    def initialize(*args, **kwargs)
      super
      self.formatter = Formatters::Pretty.new
      MADE[object_id] = self # rubocop:disable Lint/HashCompareByIdentity -- a WeakMap, not a Hash
      # Made while a server runs (a job's logger made when first needed): attached at once, when
      # it qualifies (NativeLog.attach refuses subclasses, as at the start).
      Ferrokiq::NativeLog.adopt(self) if defined?(Ferrokiq::NativeLog)
    end

    # @api private
    # Hands this logger's lines to +writer+, a Ferrokiq::Native::LogWriter formatting them in
    # +layout+ (see Ferrokiq::NativeLog), or back to Ruby with nil.
    def write_natively(writer, layout = nil)
      @native_layout = writer && layout
      @native_writer = writer
    end

    # @api private
    # Whether the native writer formats this logger's lines (its formatter is one of Sidekiq's).
    def natively_formatted?
      !@native_layout.nil?
    end

    # A formatter of Sidekiq's own switches the native writer's layout from the next line on;
    # another one formats the lines in Ruby, which the writer then writes in order.
    def formatter=(formatter)
      super
      writer = @native_writer or return
      layout = Ferrokiq::NativeLog.layout_for(formatter)
      writer.relayout(layout) if layout && layout != @native_layout
      @native_layout = layout
    end

    # Ruby's Logger#add up to the formatter: the same level check, block and progname rules;
    # then the native writer formats the line, or Ruby's formatter when a value needs it.
    def add(severity, message = nil, progname = nil)
      writer = @native_writer
      return super unless writer

      severity ||= UNKNOWN
      return true if severity < level

      progname = @progname if progname.nil?
      if message.nil?
        if block_given?
          message = yield
        else
          message = progname
          progname = @progname
        end
      end
      queue_line(writer, format_severity(severity), progname, message)
      true
    end
    alias log add

    def <<(text)
      writer = @native_writer
      writer ? writer.text(text.to_s) : super
    end

    # The lines queued so far go to the old file, later ones to the reopened one.
    def reopen(logdev = nil)
      writer = @native_writer
      return super unless writer

      writer.flush
      super
      device = @logdev&.dev
      device.is_a?(::IO) ? writer.reopen(device.fileno) : Ferrokiq::NativeLog.release(self)
      self
    end

    # What is queued is written first; Ruby then closes the device as ever.
    def close
      Ferrokiq::NativeLog.release(self) if @native_writer
      super
    end

    private

    def queue_line(writer, label, progname, message)
      layout = @native_layout
      return writer.text(format_message(label, Time.now, progname, message)) unless layout

      # Interpolation, as the formatters do: a `to_s` that returns no String still gives text.
      shown = layout != "json" && !message.is_a?(String) ? "#{message}" : message # rubocop:disable Style/RedundantInterpolation
      return if writer.line(label, shown, Thread.current[Context::SLOT], Sidekiq.tid)

      writer.text(format_message(label, Time.now, progname, message))
    end
  end
end
