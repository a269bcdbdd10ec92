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

      # A bulk push's slice (the jobs its middleware let through): writes the lock fields and
      # takes every lock in one script call, in the slice's order. Returns the jobs that must
      # not be stored (another job holds their lock), as a Set compared by identity. When a
      # conflict raises, the locks this slice took are given back first: none of it is stored.
      def refused_in_slice(items, pool)
        now = Time.now.to_f
        requests = items.filter_map { |item| client_request(item, now) if item["lock"] }
        refused(requests, pool).each_with_object(Set.new.compare_by_identity) { |request, set| set << request.item }
      end

      # The request of a job whose lock is taken at push, with its fields written; nil for a job
      # without one (or under `sidekiq/testing`, or a runtime-only lock, whose fields are written).
      def client_request(item, now)
        type = LockRequest.type_of(item)
        return unless type && !testing?

        request = LockRequest.new(item, type).write_fields!(now)
        request if request.client_lock?
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
        groups = requests.map { |request| [request.digest, request.jid, request.pttl(now), request.score(now), now] }
        pool.with { |conn| Scripts.lock(conn, groups) }
      end
    end
  end
end
