# frozen_string_literal: true

module Ferrokiq
  # sidekiq-limit_fetch's `:limits:`, `:process_limits:` and `:blocking:` from sidekiq.yml (or
  # config[...]), written at boot to the plugin's Redis keys, where the engine's fetch reads
  # them (docs/design.md, §23). A process that configures no rule for a queue leaves that
  # queue's key alone, so one process without `:limits:` never wipes the cluster's limits.
  module QueueLimitSettings
    KINDS = { limits: "limit", process_limits: "process_limit" }.freeze

    def self.apply(config)
      rules = KINDS.flat_map do |option, kind|
        (config[option] || {}).map { |queue, count| [kind, queue.to_s, count_of(option, queue, count)] }
      end
      rules.concat(blocking_rules(config[:blocking]))
      return if rules.empty?

      Sidekiq.redis do |conn|
        rules.each { |kind, queue, count| conn.call("SET", "limit_fetch:#{kind}:#{queue}", count.to_s) }
      end
      config.logger.info("Queue limits: #{rules.map { |kind, queue, count| "#{queue} #{kind} #{count}" }.join(", ")}")
    end

    # `[b, [c, d]]`: b blocks the queues below it; c and d block them too, but not each other
    # (the plugin's `block_except`, stored as the names they let through).
    def self.blocking_rules(entries)
      Array(entries).flat_map do |entry|
        group = Array(entry).map(&:to_s)
        group.map do |queue|
          others = (group - [queue]).join(",")
          ["block", queue, others.empty? ? "1" : others]
        end
      end
    end
    private_class_method :blocking_rules

    def self.count_of(option, queue, count)
      value = Integer(count, exception: false)
      return value if value && !value.negative?

      raise ArgumentError, "#{option}: #{queue}: #{count.inspect} is not a valid value (0 or more)"
    end
    private_class_method :count_of
  end
end
