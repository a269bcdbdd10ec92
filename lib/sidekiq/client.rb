# frozen_string_literal: true

require "sidekiq/middleware/chain"
require "sidekiq/job_util"
require "sidekiq/job/iterable/state"
require "ferrokiq/unique_jobs"
require "ferrokiq/foreign_push"

module Sidekiq
  # Pushes jobs to Redis: client middleware in Ruby, then serialization and the Redis round
  # trip in Rust with the GVL released.
  class Client
    include Sidekiq::JobUtil
    include Ferrokiq::ForeignPush

    DEFAULT_BATCH_SIZE = 1_000
    NOTHING_REFUSED = [].freeze

    attr_accessor :redis_pool

    # With a block, the block edits this client's own copy of the chain: the chain it
    # started with is usually the configuration's, shared by every other client.
    def middleware(&edit)
      return @chain unless edit

      @chain = @chain.dup.tap(&edit)
    end

    # Sidekiq::Client.new(pool: ..., config: ..., chain: ...); a lone positional pool is the
    # pre-7 form and still accepted (taken as given, with the default configuration).
    def initialize(*positional, **options)
      @config = options[:config] || Sidekiq.default_configuration
      @chain = options[:chain] || @config.client_middleware
      @redis_pool = positional.size == 1 && options.empty? ? positional.first : pool_for(options[:pool])
      raise ArgumentError, "No Redis pool available for Sidekiq::Client" unless @redis_pool
    end

    # Cancels the iterable job +jid+: it stops at its next state flush (within 5 s) if running,
    # or at its start if not yet. Returns the time (epoch seconds) it was first cancelled.
    def cancel!(jid)
      @redis_pool.with { |conn| Sidekiq::Job::Iterable::State.cancel(conn, jid) }
    end

    # Pushes one job. Keys: class, args, queue, at, retry, retry_for, backtrace, and any
    # sidekiq_options key. Returns the jid, or nil when a middleware stopped the push.
    def push(item)
      item = item.merge("at" => timestamp(item["at"])) if item.is_a?(Hash) && duration?(item["at"])
      job = normalize_item(item)
      accepted = pass_middleware(item["class"], job) { job }
      return unless accepted
      return store_single(accepted) unless accepted["lock"]

      # Unique jobs (docs/design.md, §24): the lock is taken once the middleware has agreed,
      # in the push's own round trip.
      verify_json(accepted)
      accepted["jid"] if store_locked([accepted]).empty?
    end

    # Pushes many jobs of one class: args is an Array of Arrays; `at` may be one timestamp or
    # one per job. Sent in slices of `batch_size` (1000), one round trip each. Returns the
    # jids 1:1 with args, nil where a middleware stopped a job.
    def push_bulk(items)
      request = items.dup
      batch_size = request.delete(:batch_size) || request.delete("batch_size") || DEFAULT_BATCH_SIZE
      at = request.delete("at")
      jid = request.delete("jid")
      check_bulk_request(request["args"], at, jid)
      at = at.is_a?(Array) ? at.map { |time| timestamp(time) } : timestamp(at)

      template = normalize_item(request)
      jids = []
      each_batch(request["args"], batch_size, at) do |slice, times, last|
        jids.concat(push_batch(template, request["class"], slice, times, jid, last))
      end
      jids
    ensure
      # The last slice sent ahead (see #fast_bulk, #stream_slice) is stored before push_bulk returns.
      Ferrokiq::Native.settle_push
    end

    # Sends every push made in the block to +pool+ (sharding).
    def self.via(pool, &block)
      raise ArgumentError, "No pool given" if pool.nil?

      with_thread_pool(pool, &block)
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

      private

      # Job.build_client and Client.new read this thread-local (Thread#[] is per fiber), so
      # the override reaches every push made inside the block and nothing outside it.
      def with_thread_pool(pool)
        outer = Thread.current[:sidekiq_redis_pool]
        begin
          Thread.current[:sidekiq_redis_pool] = pool
          yield
        ensure
          Thread.current[:sidekiq_redis_pool] = outer
        end
      end
    end

    private

    # An explicit pool wins over one installed by Client.via, which wins over the
    # configuration's.
    def pool_for(explicit)
      explicit || Thread.current[:sidekiq_redis_pool] || @config.redis_pool
    end

    # The chain sees the class as the caller gave it (a Class or a name); the result is the
    # payload to store, or nil/false when some middleware did not yield.
    def pass_middleware(job_class, job, &innermost)
      @chain.invoke_client(job_class, job, job["queue"], @redis_pool, &innermost)
    end

    def store_single(payload)
      verify_json(payload)
      raw_push([payload])
      payload["jid"]
    end

    # An ActiveSupport::Duration `at` (5.minutes) means that long from now, as in perform_in;
    # Sidekiq's push and push_bulk would read it as seconds since 1970 and run the job at once.
    def timestamp(time)
      duration?(time) ? Time.now.to_f + time.to_f : time
    end

    def duration?(time)
      defined?(::ActiveSupport::Duration) && time.is_a?(::ActiveSupport::Duration)
    end

    # Everything push_bulk can refuse before a single job is sent.
    def check_bulk_request(args, at, jid)
      times = Array(at)
      # is_a?, not ===: an ActiveSupport::Duration is a Numeric only by is_a?.
      if at && (times.empty? || !times.all? { |time| time.is_a?(Numeric) })
        raise ArgumentError, "Job 'at' must be a Numeric or an Array of Numeric timestamps"
      end
      # An Enumerator may not know its size; counting it walks it once more.
      if at.is_a?(Array) && times.size != (args.size || args.count)
        raise ArgumentError, "Job 'at' Array must have same size as 'args' Array"
      end
      return unless jid && args.first(2).size > 1

      raise ArgumentError, "Explicitly passing 'jid' when pushing more than one job is not supported"
    end

    # Yields each batch of args with its timestamps (the one scalar, or nil, shared by all
    # jobs, or the stretch of a per-job Array that lines up with the batch) and whether it is
    # the last one (nil when the args cannot tell their size). Batches are checked as they
    # come, so a bad one stops the push after the batches before it.
    def each_batch(args, batch_size, at)
      first_index = 0
      count = args.size if args.respond_to?(:size)
      args.each_slice(batch_size) do |slice|
        unless slice.is_a?(Array) && slice.all?(Array)
          raise ArgumentError, "Bulk arguments must be an Array of Arrays: [[1], [2]]"
        end

        yield slice, at.is_a?(Array) ? at[first_index, slice.size] : at, count && first_index + slice.size >= count
        first_index += slice.size
      end
    end

    # One batch, one round trip; returns its jids in order, nil where a middleware said no.
    def push_batch(template, job_class, slice, times, jid, last)
      (jid.nil? && fast_bulk(template, slice, times, last)) ||
        push_through_chain(template, job_class, slice, times, jid, last)
    end

    # Unique jobs (docs/design.md, §24): as fast_bulk, each job with its lock, written and locked
    # in Rust when its lock needs no Ruby per job. Nil when not (nothing was sent).
    def fast_locked_bulk(template, slice, times)
      return unless native_bulk? && times.nil?

      Ferrokiq::UniqueJobs::ClientLocks.push_bulk(template, slice, @redis_pool) do
        verify_args(template["wrapped"] || template["class"], slice)
      end
    end

    # With no client middleware nobody sees the per-job Hashes, so Rust writes each job's JSON
    # straight from +template+ and the slice (with its lock: fast_locked_bulk), and sends a slice
    # with more to follow ahead of them (as #stream_slice does). Nil when that is not possible
    # (nothing was sent).
    def fast_bulk(template, slice, times, last)
      return fast_locked_bulk(template, slice, times) if template["lock"]
      return unless native_bulk?

      @redis_pool.with do |conn|
        next unless conn.respond_to?(:native)

        verify_args(template["wrapped"] || template["class"], slice)
        conn.native.push_bulk(template, slice, times, Time.now.to_f, !last)
      end
    end

    # Whether a bulk slice may skip the per-job Hashes and raw_push: only when no client
    # middleware would see them. `sidekiq/testing` turns it off while a test mode is on, so
    # that its raw_push sees every job.
    def native_bulk?
      @chain.empty?
    end

    # Each job of the batch gets its own Hash (built in Rust: Ferrokiq::Native.bulk_jobs) and its
    # own pass through the chain; the survivors go to Redis together. Strict arguments are
    # checked in Rust per job; only a job with something unsafe goes through verify_json, which
    # raises or warns as Sidekiq does.
    def push_through_chain(template, job_class, slice, times, jid, last)
      checked = complex_arguments_checked?
      through_chain = lambda do |job|
        pass_middleware(job_class, job) do
          verify_json(job) if checked && Ferrokiq::Native.json_unsafe(job["args"])
          job
        end || nil
      end
      jobs = Ferrokiq::Native.bulk_jobs(template, slice, jid, times)
      jids = stream_slice(jobs, accepted = [], ahead: !last, &through_chain)
      return jids if jids

      accepted = jobs.map(&through_chain) if accepted.empty?
      refused = store_slice(accepted.compact)
      accepted.map { |job| job["jid"] if job && !refused.include?(job) }
    end

    # Runs the slice through the chain in Rust, which encodes each job it lets through and
    # stores the slice as raw_push would, streaming a large one to Redis while the chain runs;
    # a slice with more to follow (`ahead`) returns before Redis answers, and the reply is
    # awaited, a failure raised, when the next slice is stored or push_bulk ends
    # (Ferrokiq::Native.settle_push; docs/internals.md, §4). Returns the jids, or nil when the
    # slice must be stored by store_slice instead: +accepted+ then holds the chain's results
    # (scheduled or locked jobs), or nothing, when the chain has not run (a raw_push that is not
    # this class's own, as sidekiq/testing's or an app's; a pool of another Redis client).
    def stream_slice(jobs, accepted, ahead:, &through_chain)
      return if method(:raw_push).owner != Sidekiq::Client

      native = @redis_pool.with { |conn| conn.native if conn.respond_to?(:native) }
      native&.push_through(jobs, accepted, Time.now.to_f, ahead, &through_chain)
    end

    # Stores the slice's jobs; returns those not stored (their lock is held by another job).
    def store_slice(jobs)
      return NOTHING_REFUSED if jobs.empty?

      # The slice sent ahead before this one is stored first: the queue keeps the push's order.
      Ferrokiq::Native.settle_push
      return store_locked(jobs) if jobs.any? { |job| job["lock"] }

      raw_push(jobs)
      NOTHING_REFUSED
    end

    # Unique jobs (docs/design.md, §24): the locks and the jobs that got theirs, in one round
    # trip where the connection allows; returns the jobs whose lock another job holds.
    def store_locked(jobs)
      Ferrokiq::UniqueJobs::ClientLocks.push_slice(jobs, @redis_pool) { |stored| raw_push_releasing_locks(stored) }
    end

    def raw_push_releasing_locks(payloads)
      raw_push(payloads)
    rescue Exception # rubocop:disable Lint/RescueException -- no lock may outlive a failed push
      locked = payloads.select { |job| job["lock_digest"] }
      Ferrokiq::UniqueJobs::ServerLocks.release_all(locked, @redis_pool) unless locked.empty?
      raise
    end

    # One round trip for the whole batch. The first job decides where all of them go: its
    # `at` means the schedule set (ZADD), otherwise its queue (SADD queues + LPUSH). Every
    # push ends here except the bulk paths in Rust, which store what it would: #fast_bulk
    # (off while a `sidekiq/testing` mode is on) and #stream_slice (off when this is overridden).
    def raw_push(payloads)
      scheduled = payloads.first.key?("at")
      @redis_pool.with do |conn|
        if conn.respond_to?(:native)
          next conn.native.schedule(payloads) if scheduled

          # Ruby's clock, as for created_at: tests that stub Time (Timecop, travel_to) see both.
          conn.native.push(payloads.first["queue"], payloads, Time.now.to_f)
        else
          # A pool of some other Redis client (say redis-rb connections handed to
          # `Client.via`): the same commands through its pipelined API.
          conn.pipelined { |pipe| scheduled ? pipe_to_schedule(pipe, payloads) : pipe_to_queue(pipe, payloads) }
        end
      end
      true
    end
  end
end
