# frozen_string_literal: true

require "logger"
require "time"

module Sidekiq
  # A Ruby Logger whose lines look like Sidekiq's:
  # "2024-01-01T00:00:00.000Z pid=12 tid=abc INFO: message".
  class Logger < ::Logger
    # Line layouts, as in Sidekiq.
    module Formatters
      # Shared pieces of Sidekiq's log layouts.
      class Base < ::Logger::Formatter
        def tid
          Thread.current["sidekiq_tid"] ||= (Thread.current.object_id ^ ::Process.pid).to_s(36)
        end

        def context
          Thread.current[:sidekiq_context] || {}
        end

        def format_context
          return "" if context.empty?

          " #{context.map { |key, value| "#{key}=#{value.is_a?(Array) ? value.join(",") : value}" }.join(" ")}"
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

    def initialize(*args, **kwargs)
      super
      self.formatter = Formatters::Pretty.new
    end
  end
end
