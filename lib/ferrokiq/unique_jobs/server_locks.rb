# frozen_string_literal: true

module Ferrokiq
  module UniqueJobs
    # The server's half, around the job's middleware and perform (lib/sidekiq/processor.rb),
    # with the plugin's lock lifetimes (docs/design.md, §24):
    #   until_executing            released just before perform
    #   until_executed             confirmed before perform, released by the engine with the
    #                              acknowledgement of its success; a failure keeps it through
    #                              the retries (death releases it)
    #   until_expired              never released here: its TTL ends it
    #   while_executing            a `<digest>:RUN` lock held while perform runs
    #   until_and_while_executing  the push lock released at start, then a :RUN lock
    module ServerLocks
      # How often a job waiting (lock_timeout) for a runtime lock looks again.
      POLL = 0.1
      # How long a basic-fetched job may run before a beat records it: twice the heartbeat's
      # pause (Sidekiq::Launcher::BEAT_PAUSE, 10 s), for a beat that comes late.
      UNRECORDED_FOR = 20

      module_function

      # +basic_fetch+: the job was fetched with BRPOP, so no Redis key shows it until the next
      # heartbeat writes its work record. +acknowledger+ (the Processor) is given an
      # until_executed lock to release with the job's acknowledgement, once the job is settled.
      def around(item, acknowledger, basic_fetch: false, &perform)
        type = LockRequest.type_of(item)
        return yield unless type

        request = LockRequest.new(item, type)
        unless item.key?("lock_digest")
          # sidekiq-unique-jobs 6 payloads keep their own keys, which this server leaves alone.
          return yield if item.key?("unique_digest")

          # A job pushed without its lock (by a client without the plugin, or a periodic tick
          # put back after its process died) gets the plugin's fields and takes its lock here,
          # as the plugin's server does.
          return take_late(request, acknowledger, &perform)
        end

        case type
        when :until_executed then until_executed(request, basic_fetch, acknowledger, &perform)
        when :until_executing then until_executing(request, &perform)
        when :while_executing then while_executing(request, &perform)
        when :until_and_while_executing then until_and_while_executing(request, &perform)
        else yield
        end
      end

      # The lock a job should have taken at its push, taken before perform: another job's
      # lock skips perform with the server strategy, as a lock lost before perform does. The
      # fields written here do not reach a retry (it is made from the payload as fetched), so
      # the death of such a job computes its digest again to give the lock back.
      # until_executing has nothing to give back before perform; the runtime locks need only
      # the digest; an until_expired lock is left to its TTL.
      def take_late(request, acknowledger, &perform)
        now = Time.now.to_f
        request.write_fields!(now)
        case request.type
        when :until_executed, :until_expired
          return ConflictStrategy.on_server(request) unless take(request, now)

          yield
          acknowledger.release_lock_on_acknowledge(request.digest, request.jid) if request.type == :until_executed
        when :while_executing then while_executing(request, &perform)
        when :until_and_while_executing then until_and_while_executing(request, &perform)
        else yield
        end
      end

      # Takes +request+'s push lock, scored as a push scores it, but from +now+ (an
      # until_expired lock's score is when its TTL ends; the reaper must leave it until then).
      def take(request, now)
        group = request.lock_group(now, score: request.type == :until_expired ? request.score(now) : now)
        Sidekiq.redis { |conn| Scripts.lock(conn, [group]) }.first
      end

      def until_executing(request)
        release(request.digest, request.jid)
        yield
      end

      def until_executed(request, basic_fetch, acknowledger)
        age = age_of(request)
        if (basic_fetch && reaper_may_look?(age)) || may_have_expired?(request, age)
          now = Process.clock_gettime(Process::CLOCK_REALTIME)
          argv = [request.jid, request.pttl(now), now, request.limit]
          held = Sidekiq.redis { |conn| Scripts.run(conn, :confirm, request.digest, argv) }
          # Another job took the lock after this one's expired: the plugin skips perform too.
          return ConflictStrategy.on_server(request) if held.to_i.zero?
        end

        yield
        # The engine releases it after the job leaves its working list, in the same pipeline,
        # so no worker thread waits for the release (docs/design.md, §24).
        acknowledger.release_lock_on_acknowledge(request.digest, request.jid)
      end

      # The confirmation before perform costs a round trip per job, so it is made only when it
      # can matter: the job's lock may have run out (older than nine tenths of its TTL), or the
      # job was fetched by basic fetch and the reaper could look at its lock before the
      # heartbeat records the job. A job fetched by reliable fetch sits in a working list while
      # it runs, where the reaper finds it.
      def may_have_expired?(request, age)
        ttl = request.lock_ttl.to_f
        ttl.positive? && age > ttl * 0.9
      end

      # A basic-fetched job shows in no Redis key until the next beat writes its work record;
      # the reaper looks only at locks older than reaper_grace. So the age needs renewing only
      # when the lock is that old, less the time a beat may take to come.
      def reaper_may_look?(age)
        age > UniqueJobs.settings.reaper_grace.to_f - UNRECORDED_FOR
      end

      # Seconds since the job was created: its lock can be no older (the lock's age counts from
      # the push, or a later `at`; retries keep created_at), so every check is on the safe side.
      def age_of(request)
        created = request.item["created_at"].to_f
        created /= 1000 if created > 100_000_000_000 # Sidekiq 8 writes milliseconds
        Process.clock_gettime(Process::CLOCK_REALTIME) - created
      end

      def while_executing(request)
        return ConflictStrategy.on_server(request) unless take_runtime(request)

        begin
          yield
        ensure
          release(request.runtime_digest, request.jid)
        end
      end

      # The push lock goes first, so an identical job can be queued while this one runs; a
      # failed perform takes it back for the retry.
      def until_and_while_executing(request, &perform)
        release(request.digest, request.jid)
        while_executing(request, &perform)
      rescue Exception # rubocop:disable Lint/RescueException -- the retry needs its lock again
        take(request, Time.now.to_f)
        raise
      end

      # Waits up to lock_timeout seconds for the runtime lock.
      def take_runtime(request)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + request.lock_timeout.to_f
        loop do
          now = Time.now.to_f
          group = request.lock_group(now, digest: request.runtime_digest, score: now)
          return true if Sidekiq.redis { |conn| Scripts.lock(conn, [group]) }.first
          return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) >= deadline

          sleep POLL
        end
      end

      def release(digest, jid)
        Sidekiq.redis { |conn| Scripts.release(conn, [[digest, jid]]) }
      end

      # The push locks of jobs that could not be stored (a failed bulk push), in one call.
      def release_all(items, pool)
        pool.with { |conn| Scripts.release(conn, items.map { |item| [item["lock_digest"], item["jid"]] }) }
      end

      # A job declared dead (out of retries, or never retried) gives back every lock it holds,
      # as the plugin's death handler does; another job's lock on the digest stays.
      # A job that never carried its fields (it took its lock on the server, see take_late)
      # gets its digest computed again.
      def release_dead(item)
        type = LockRequest.type_of(item)
        return unless type

        request = LockRequest.new(item, type)
        release(request.digest, request.jid) if request.client_lock?
        release(request.runtime_digest, request.jid) if request.runtime_lock?
      end
    end
  end
end
