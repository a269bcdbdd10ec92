# frozen_string_literal: true

require "date"

module Sidekiq
  # Counters and sizes across the whole installation. The cheap numbers (one pipelined round
  # trip) are read on creation; `enqueued` and `workers_size`, which cost a command per queue
  # and per process, on first use.
  class Stats
    FAST = %i[processed failed scheduled_size retry_size dead_size processes_size default_queue_latency].freeze
    SLOW = %i[workers_size enqueued].freeze
    # The totals #reset can zero, by name, with their keys.
    COUNTER_KEYS = { "processed" => "stat:processed", "failed" => "stat:failed" }.freeze

    def initialize
      fetch_stats_fast!
    end

    (FAST + SLOW).each do |name|
      define_method(name) { stat(name) }
    end

    # Queue name => size, largest first.
    def queues
      Sidekiq.redis do |conn|
        names = Ferrokiq::Scan.set_members(conn, "queues")
        sizes = conn.pipelined { |pipe| names.each { |name| pipe.call("LLEN", "queue:#{name}") } }
        names.zip(sizes).sort_by { |_, size| -size }.to_h
      end
    end

    # @api private
    def fetch_stats_fast!
      replies = Sidekiq.redis do |conn|
        conn.pipelined do |pipe|
          pipe.call("GET", "stat:processed")
          pipe.call("GET", "stat:failed")
          %w[schedule retry dead].each { |set| pipe.call("ZCARD", set) }
          pipe.call("SCARD", "processes")
          pipe.call("LINDEX", "queue:default", -1)
        end
      end
      processed, failed, scheduled, retries, dead, processes, oldest_default = replies
      @stats = { processed: processed.to_i, failed: failed.to_i, scheduled_size: scheduled, retry_size: retries,
                 dead_size: dead, processes_size: processes,
                 default_queue_latency: JobRecord.latency_of(oldest_default) }
    end

    # @api private
    # `enqueued` also counts the jobs Ferrokiq processes have taken off their queues but are
    # not running (prefetched, or stranded until the sweep): with Sidekiq they would still be
    # in their queues. Running ones count as busy, as Sidekiq counts them (from the heartbeat,
    # so a job that started in the last 10 seconds may still count as enqueued).
    def fetch_stats_slow!
      Sidekiq.redis do |conn|
        processes = Ferrokiq::Scan.set_members(conn, "processes")
        queues = Ferrokiq::Scan.set_members(conn, "queues")
        lists = InFlightSet.new.working_lists(conn)
        replies = conn.pipelined do |pipe|
          processes.each { |key| pipe.call("HGET", key, "busy") }
          queues.each { |name| pipe.call("LLEN", "queue:#{name}") }
          lists.each { |key, _, _| pipe.call("LLEN", key) }
        end
        busy = processes.zip(replies.shift(processes.size).map(&:to_i)).to_h
        @stats[:workers_size] = busy.values.sum
        @stats[:enqueued] = replies.shift(queues.size).sum + taken_not_running(lists, replies, busy)
      end
      @stats
    end

    # @api private
    def fetch_stats!
      fetch_stats_fast!
      fetch_stats_slow!
    end

    # Sets the processed and failed totals (or only the ones named) back to zero.
    def reset(*counters)
      keys = if counters.empty?
               COUNTER_KEYS.values
             else
               COUNTER_KEYS.values_at(*counters.flatten.map(&:to_s)).compact.uniq
             end
      Sidekiq.redis { |conn| conn.call("MSET", *keys.product(["0"]).flatten) } unless keys.empty?
    end

    private

    # Per process: what its working lists hold beyond the jobs it runs.
    def taken_not_running(lists, lengths, busy)
      held = Hash.new(0)
      lists.zip(lengths) { |(_, identity, _), length| held[identity] += length.to_i }
      held.sum { |identity, count| [count - busy.fetch(identity, 0), 0].max }
    end

    # The slow numbers are read together, the first time one of them is asked for.
    def stat(name)
      raise ArgumentError, "Sidekiq::Stats has no statistic named #{name.inspect}" unless (FAST + SLOW).include?(name)

      fetch_stats_slow! unless @stats.key?(name)
      @stats[name]
    end

    # Daily processed and failed counts (kept five years): date String => count, newest first.
    class History
      MAX_DAYS = 5 * 365

      def initialize(days_previous, start_date = nil, pool: nil)
        unless days_previous.is_a?(Integer) && days_previous.between?(1, MAX_DAYS)
          raise ArgumentError, "days_previous must be an Integer from 1 to #{MAX_DAYS}, got #{days_previous.inspect}"
        end

        @days_previous = days_previous
        @start_date = (start_date || Time.now.utc).to_date
        @pool = pool
      end

      def processed
        @processed ||= daily("processed")
      end

      def failed
        @failed ||= daily("failed")
      end

      private

      def daily(stat)
        dates = Array.new(@days_previous) { |days_back| (@start_date - days_back).iso8601 }
        counts = redis { |conn| conn.call("MGET", *dates.map { |date| "stat:#{stat}:#{date}" }) }
        dates.zip(counts).to_h { |date, count| [date, count.to_i] }
      end

      def redis(&block)
        @pool ? @pool.with(&block) : Sidekiq.redis(&block)
      end
    end
  end
end
