# frozen_string_literal: true

require "set"

module Ferrokiq
  module UniqueJobs
    # The client's half: after the client middleware, a job that asks for a lock gets the
    # plugin's payload fields and, for the locks taken at push, its lock, before it is stored.
    # Jobs without `lock` never come here (Sidekiq::Client checks the key), so pushes without
    # locks cost nothing more.
    module ClientLocks
      module_function

      # Yields the job to store when it may be pushed; returns the block's value, or nil when
      # the lock is held by another job. A push that fails gives the lock back.
      def push(item, pool)
        request = client_request(item, Time.now.to_f)
        return yield(item) unless request
        return if refused([request], pool).any?

        begin
          yield item
        rescue Exception # rubocop:disable Lint/RescueException -- any failure to store leaves no lock behind
          pool.with { |conn| Scripts.release(conn, [[request.digest, request.jid]]) }
          raise
        end
      end

      # A push's jobs (one, or a bulk slice's that its middleware let through), some asking for
      # a lock: writes their lock fields, then takes the locks and stores the jobs that got
      # theirs. With Ferrokiq's own connection that is one script, one round trip
      # (Native::Redis#lock_and_push); otherwise, or when a conflict may raise (:raise must
      # store nothing of a bulk slice), the locks are taken in one call and +store+ is given the
      # jobs that got theirs. Returns the jobs not stored, as a Set compared by identity.
      def push_slice(items, pool, &store)
        now = Time.now.to_f
        classes = {}
        requests = items.map { |item| client_request(item, now, classes) if item["lock"] }
        return nothing_refused(store, items) if requests.none?

        if one_trip?(requests) && pool.with { |conn| conn.respond_to?(:native) }
          refused_after_one_trip(items, requests, pool)
        else
          two_trips(items, requests, pool, store)
        end
      end

      def nothing_refused(store, items)
        store.call(items)
        Set.new.compare_by_identity
      end

      # A single push stores nothing when its lock is refused, whatever the strategy; a slice
      # must store nothing when one of its conflicts raises, so it locks before it stores.
      def one_trip?(requests)
        requests.size == 1 || requests.none? { |request| request&.strategy(:client) == :raise }
      end

      def refused_after_one_trip(items, requests, pool)
        enqueued_at = items.map { |item| item.fetch("enqueued_at", UNSET) }
        stored = lock_and_push(items, requests, pool)
        refused = Set.new.compare_by_identity
        items.each_with_index do |item, index|
          next if stored[index]

          # The strategies see the job as it was before the push stamped it (the plugin's
          # :reject kills it without an enqueued_at).
          restore_enqueued_at(item, enqueued_at[index])
          # :replace made way for the job: one more try, alone.
          next if ConflictStrategy.on_client(requests[index], pool) && lock_and_push([item], [requests[index]], pool)[0]

          refused << item
        end
        refused
      end

      UNSET = Object.new.freeze

      def restore_enqueued_at(item, value)
        UNSET.equal?(value) ? item.delete("enqueued_at") : item["enqueued_at"] = value
      end

      # Every lock and every job of +items+ in one script; returns per job whether it was
      # stored. The locks of a call that failed are given back (a job whose lock went with the
      # failure was not stored).
      def lock_and_push(items, requests, pool)
        now = Time.now.to_f
        locks = requests.map { |request| request&.native_lock(now) }
        pool.with do |conn|
          conn.native.lock_and_push(items, locks, now)
        rescue Exception # rubocop:disable Lint/RescueException -- no lock may outlive a failed push
          Scripts.release(conn, requests.compact.map { |request| [request.digest, request.jid] })
          raise
        end
      end

      def two_trips(items, requests, pool, store)
        refused = refused(requests.compact, pool).each_with_object(Set.new.compare_by_identity) do |request, set|
          set << request.item
        end
        survivors = refused.empty? ? items : items.reject { |item| refused.include?(item) }
        store.call(survivors) unless survivors.empty?
        refused
      end

      # The request of a job whose lock is taken at push, with its fields written; nil for a job
      # without one (or under `sidekiq/testing`, or a runtime-only lock, whose fields are written).
      # +classes+ keeps each job class looked up once per push.
      def client_request(item, now, classes = {})
        type = LockRequest.type_of(item)
        return unless type && !testing?

        name = item["class"]
        klass = classes.fetch(name) { classes[name] = LockRequest.class_named(name) }
        request = LockRequest.new(item, type, job_class: klass).write_fields!(now)
        request if request.client_lock?
      end

      # A bulk push's slice of jobs, each with its own lock, written and locked in Rust when the
      # template allows it (LockRequest#bulk_lock) and the connection is Ferrokiq's own: one
      # script for the slice, no Ruby Hash per job. Returns the jids (nil where another job holds
      # the lock), or nil when the slice must take the general path (nothing was sent).
      def push_bulk(template, slice, pool)
        type = LockRequest.type_of(template)
        return unless type && LockRequest::CLIENT_LOCKS.include?(type) && !testing?

        request = LockRequest.new(template, type)
        now = Time.now.to_f
        lock = request.bulk_lock(now)
        return unless lock

        jids, refused = pool.with do |conn|
          next unless conn.respond_to?(:native)

          yield
          conn.native.push_bulk_locked(template, slice, now, lock)
        end
        refused&.each { |jid, digest| ConflictStrategy.log_refused(request, jid, digest) }
        jids
      end

      # `sidekiq/testing`'s fake and inline modes keep jobs out of Redis, so they take no locks
      # there either: an app's test suite runs without a Redis server, as it does without locks.
      def testing?
        defined?(Sidekiq::Testing) && Sidekiq::Testing.enabled?
      end

      # Takes the locks, then applies the client strategy to each conflict in order (:replace
      # earns one more try). Returns the requests whose jobs must not be stored.
      def refused(requests, pool)
        return [] if requests.empty?

        held = take(requests, pool)
        requests.each_with_index.filter_map do |request, index|
          next if held[index]
          next if ConflictStrategy.on_client(request, pool) && (held[index] = take([request], pool).first)

          request
        end
      rescue Exception # rubocop:disable Lint/RescueException -- a raising strategy stores nothing of the slice
        taken = requests.select.with_index { |_, index| held&.at(index) }
        pool.with { |conn| Scripts.release(conn, taken.map { |request| [request.digest, request.jid] }) } if taken.any?
        raise
      end

      def take(requests, pool)
        now = Time.now.to_f
        groups = requests.map { |request| request.lock_group(now) }
        pool.with { |conn| Scripts.lock(conn, groups) }
      end
    end
  end
end
