# frozen_string_literal: true

module Sidekiq
  # sidekiq-limit_fetch's runtime API on Sidekiq::Queue, over the plugin's own Redis keys, which
  # the engine's fetch reads at every batch (docs/design.md, §23): `Queue["bulk"].limit = 3`
  # caps the jobs taken from "bulk" and not yet finished, across all processes.
  module QueueLimits
    # `Sidekiq::Queue["bulk"]`, as the plugin spells it.
    module Lookup
      def [](name)
        new(name)
      end
    end

    KEY_PREFIX = "limit_fetch:"

    def self.key(kind, queue)
      "#{KEY_PREFIX}#{kind}:#{queue}"
    end

    # The most jobs of this queue all processes together may hold (taken, not finished); nil:
    # no limit.
    def limit
      read_rule("limit")
    end

    # nil removes the limit.
    def limit=(value)
      write_rule("limit", value)
    end

    # The most jobs of this queue each process may hold; nil: no limit.
    def process_limit
      read_rule("process_limit")
    end

    def process_limit=(value)
      write_rule("process_limit", value)
    end

    # No process takes jobs from a paused queue; running ones finish.
    def pause
      Sidekiq.redis { |conn| conn.call("SET", QueueLimits.key("pause", name), "1") }
      true
    end

    # Paused for +milliseconds+, then taken from again without anyone unpausing it.
    def pause_for_ms(milliseconds)
      Sidekiq.redis { |conn| conn.call("SET", QueueLimits.key("pause", name), "1", "PX", Integer(milliseconds)) }
      true
    end

    def unpause
      Sidekiq.redis { |conn| conn.call("DEL", QueueLimits.key("pause", name)) }
      true
    end

    def paused?
      Sidekiq.redis { |conn| conn.call("EXISTS", QueueLimits.key("pause", name)) }.positive?
    end

    # While this queue has jobs a process may take, the queues after it get only what it cannot
    # supply: the engine takes from blocking queues first.
    def block
      Sidekiq.redis { |conn| conn.call("SET", QueueLimits.key("block", name), "1") }
      true
    end

    # Blocking, except towards +queues+ (the plugin's groups; the engine treats both alike).
    def block_except(*queues)
      Sidekiq.redis { |conn| conn.call("SET", QueueLimits.key("block", name), queues.flatten.join(",")) }
      true
    end

    def unblock
      Sidekiq.redis { |conn| conn.call("DEL", QueueLimits.key("block", name)) }
      true
    end

    def blocking?
      Sidekiq.redis { |conn| conn.call("EXISTS", QueueLimits.key("block", name)) }.positive?
    end

    # The registries of the lists that hold a queue's jobs: reliable fetch's working lists, and
    # basic fetch's taken lists, one entry per job.
    HELD_LISTS = %w[ferrokiq:working ferrokiq:taken].freeze

    # The jobs of this queue that processes hold: taken (prefetched or running) and not
    # yet finished; what `limit` is compared with.
    def busy
      Sidekiq.redis do |conn|
        lists = HELD_LISTS.flat_map do |registry|
          conn.call("HGETALL", registry).filter_map { |key, owner| key if owner.split("\n")[1] == name }
        end
        lists.empty? ? 0 : conn.pipelined { |pipe| lists.each { |key| pipe.call("LLEN", key) } }.sum
      end
    end

    private

    def read_rule(kind)
      Sidekiq.redis { |conn| conn.call("GET", QueueLimits.key(kind, name)) }&.to_i
    end

    def write_rule(kind, value)
      key = QueueLimits.key(kind, name)
      if value.nil?
        Sidekiq.redis { |conn| conn.call("DEL", key) }
      else
        count = Integer(value)
        raise ArgumentError, "#{kind} must be 0 or more, got #{value.inspect}" if count.negative?

        Sidekiq.redis { |conn| conn.call("SET", key, count.to_s) }
      end
    end
  end
end

Sidekiq::Queue.prepend(Sidekiq::QueueLimits)
Sidekiq::Queue.extend(Sidekiq::QueueLimits::Lookup)
