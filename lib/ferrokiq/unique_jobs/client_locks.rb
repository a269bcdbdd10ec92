# frozen_string_literal: true

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
        type = LockRequest.type_of(item)
        return yield(item) unless type && !testing?

        request = LockRequest.new(item, type).write_fields!(Time.now.to_f)
        return yield(item) unless request.client_lock?
        return unless admitted?(request, pool)

        begin
          yield item
        rescue Exception # rubocop:disable Lint/RescueException -- any failure to store leaves no lock behind
          pool.with { |conn| Scripts.release(conn, [[request.digest, request.jid]]) }
          raise
        end
      end

      # `sidekiq/testing`'s fake and inline modes keep jobs out of Redis, so they take no locks
      # there either: an app's test suite runs without a Redis server, as it does without locks.
      def testing?
        defined?(Sidekiq::Testing) && Sidekiq::Testing.enabled?
      end

      # Takes the lock; on a conflict applies the client strategy, and :replace earns one more try.
      def admitted?(request, pool)
        return true if take(request, pool)
        return false unless ConflictStrategy.on_client(request, pool)

        take(request, pool)
      end

      def take(request, pool)
        now = Time.now.to_f
        argv = [request.jid, request.pttl(now), request.score(now), now]
        pool.with { |conn| Scripts.run(conn, :lock, request.digest, argv) }
      end
    end
  end
end
