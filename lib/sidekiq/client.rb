# frozen_string_literal: true

require "sidekiq/middleware/chain"
require "sidekiq/job_util"

module Sidekiq
  # Pushes jobs to Redis: client middleware in Ruby, then serialization and the Redis round
  # trip in Rust with the GVL released.
  class Client
    include Sidekiq::JobUtil

    DEFAULT_BATCH_SIZE = 1_000

    attr_accessor :redis_pool

    # Yields a private copy of the middleware chain when given a block.
    def middleware(&block)
      if block
        @chain = @chain.dup
        yield @chain
      end
      @chain
    end

    # Sidekiq::Client.new(pool: ..., config: ..., chain: ...); a lone positional pool is the
    # pre-7 form and still accepted.
    def initialize(*args, **kwargs)
      if args.size == 1 && kwargs.empty?
        @redis_pool = args[0]
        @config = Sidekiq.default_configuration
        @chain = @config.client_middleware
      else
        @config = kwargs[:config] || Sidekiq.default_configuration
        @redis_pool = kwargs[:pool] || Thread.current[:sidekiq_redis_pool] || @config.redis_pool
        @chain = kwargs[:chain] || @config.client_middleware
      end
      raise ArgumentError, "No Redis pool available for Sidekiq::Client" unless @redis_pool
    end

    # Pushes one job. Keys: class, args, queue, at, retry, retry_for, backtrace, and any
    # sidekiq_options key. Returns the jid, or nil when a middleware stopped the push.
    def push(item)
      normed = normalize_item(item)
      payload = @chain.invoke(item["class"], normed, normed["queue"], @redis_pool) { normed }
      return unless payload

      verify_json(payload)
      raw_push([payload])
      payload["jid"]
    end

    # Pushes many jobs of one class: args is an Array of Arrays; `at` may be one timestamp or
    # one per job. Sent in slices of `batch_size` (1000), one round trip each. Returns the
    # jids 1:1 with args, nil where a middleware stopped a job.
    def push_bulk(items)
      items = items.dup
      batch_size = items.delete(:batch_size) || items.delete("batch_size") || DEFAULT_BATCH_SIZE
      args = items["args"]
      at = items.delete("at")
      validate_bulk_at(at, args)
      jid = items.delete("jid")
      if jid && args.size > 1
        raise ArgumentError, "Explicitly passing 'jid' when pushing more than one job is not supported"
      end

      normed = normalize_item(items)
      result = bulk_slices(args, batch_size, normed, items["class"], at, jid)
      result.is_a?(Enumerator::Lazy) ? result.force : result
    end

    # Sends every push made in the block to +pool+ (sharding).
    def self.via(pool)
      raise ArgumentError, "No pool given" if pool.nil?

      current_sidekiq_pool = Thread.current[:sidekiq_redis_pool]
      Thread.current[:sidekiq_redis_pool] = pool
      yield
    ensure
      Thread.current[:sidekiq_redis_pool] = current_sidekiq_pool
    end

    class << self
      def push(item)
        new.push(item)
      end

      def push_bulk(...)
        new.push_bulk(...)
      end

      # Resque-style helpers.
      def enqueue(klass, *args)
        klass.client_push("class" => klass, "args" => args)
      end

      def enqueue_to(queue, klass, *args)
        klass.client_push("queue" => queue, "class" => klass, "args" => args)
      end

      def enqueue_to_in(queue, interval, klass, *args)
        item = { "class" => klass, "args" => args, "queue" => queue }
        at = Sidekiq::Job.timestamp_for(interval)
        item["at"] = at if at
        klass.client_push(item)
      end

      def enqueue_in(interval, klass, *args)
        klass.perform_in(interval, *args)
      end
    end

    private

    def validate_bulk_at(at, args)
      if at && (Array(at).empty? || !Array(at).all?(Numeric))
        raise ArgumentError, "Job 'at' must be a Numeric or an Array of Numeric timestamps"
      end
      return unless at.is_a?(Array) && at.size != args.size

      raise ArgumentError, "Job 'at' Array must have same size as 'args' Array"
    end

    def bulk_slices(args, batch_size, normed, klass, at, jid)
      offset = 0
      args.each_slice(batch_size).flat_map do |slice|
        unless slice.is_a?(Array) && slice.all?(Array)
          raise ArgumentError, "Bulk arguments must be an Array of Arrays: [[1], [2]]"
        end

        slice_at = at.is_a?(Array) ? at[offset, slice.size] : at
        offset += batch_size
        (jid.nil? && fast_bulk(normed, slice, slice_at)) || bulk_slice(normed, slice, klass, slice_at, jid)
      end
    end

    # With no client middleware nobody sees the per-job Hashes, so Rust writes each job's JSON
    # straight from +normed+ and the slice. Nil when that is not possible (nothing was sent).
    def fast_bulk(normed, slice, slice_at)
      return unless native_bulk?

      @redis_pool.with do |conn|
        next unless conn.respond_to?(:native)

        verify_args(normed["wrapped"] || normed["class"], slice)
        conn.native.push_bulk(normed, slice, slice_at)
      end
    end

    # Whether a bulk slice may skip the per-job Hashes and raw_push: only when no client
    # middleware would see them. `sidekiq/testing` turns it off while a test mode is on, so
    # that its raw_push sees every job.
    def native_bulk?
      @chain.empty?
    end

    def bulk_slice(normed, slice, klass, slice_at, jid)
      payloads = slice.map.with_index do |job_args, index|
        copy = normed.merge("args" => job_args, "jid" => jid || Ferrokiq::Native.jid)
        copy["at"] = slice_at.is_a?(Array) ? slice_at[index] : slice_at if slice_at
        @chain.invoke(klass, copy, copy["queue"], @redis_pool) do
          verify_json(copy)
          copy
        end || nil
      end
      to_push = payloads.compact
      raw_push(to_push) unless to_push.empty?
      payloads.map { |payload| payload&.[]("jid") }
    end

    # One round trip for the whole batch: ZADD schedule when the first job has `at`,
    # otherwise SADD queues + LPUSH queue:<q> on the first job's queue. Every push except
    # the native bulk path (see native_bulk?) ends here; `sidekiq/testing` overrides it.
    def raw_push(payloads)
      @redis_pool.with do |conn|
        if conn.respond_to?(:native)
          native_push(conn.native, payloads)
        else
          generic_push(conn, payloads)
        end
      end
      true
    end

    def native_push(native, payloads)
      if payloads.first.key?("at")
        native.schedule(payloads)
      else
        native.push(payloads.first["queue"], payloads)
      end
    end

    # For a pool of some other Redis client (a ConnectionPool of redis-rb or redis-client
    # connections handed to `Client.via`): the same commands through its pipelined API.
    def generic_push(conn, payloads)
      if payloads.first.key?("at")
        entries = payloads.flat_map do |hash|
          hash.delete("enqueued_at")
          [hash["at"].to_s, Sidekiq.dump_json(hash.except("at"))]
        end
        conn.pipelined { |pipe| pipe.zadd("schedule", entries) }
      else
        queue = payloads.first["queue"]
        now = Time.now.to_f
        jsons = payloads.map { |entry| Sidekiq.dump_json(entry.merge!("enqueued_at" => now)) }
        conn.pipelined do |pipe|
          pipe.sadd("queues", [queue])
          pipe.lpush("queue:#{queue}", jsons)
        end
      end
    end
  end
end
