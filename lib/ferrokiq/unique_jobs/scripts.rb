# frozen_string_literal: true

require "digest/sha1"

module Ferrokiq
  module UniqueJobs
    # The Lua scripts that take, confirm and release a lock in one atomic step each. Keys per
    # lock, as sidekiq-unique-jobs 8 lays them out (docs/design.md, §24):
    #   KEYS[1] <digest>          STRING  the holder's jid
    #   KEYS[2] <digest>:LOCKED   HASH    jid => lock time: the lock itself
    #   KEYS[3] uniquejobs:digests ZSET   digest => when the job may run (the reaper's age)
    #   KEYS[4] <digest>:QUEUED   LIST    (no script reads it now: RELEASE builds its names)
    #   KEYS[5] <digest>:INFO     STRING  the plugin's lock_info, if any
    module Scripts
      # KEYS[1] the digests set; ARGV groups of digest, jid, pttl (ms, 0 = none), score, now,
      # lock_limit, `:INFO` JSON (empty: none), in order (a bulk push's slice takes its locks in
      # one call; key names are built as RELEASE builds them). A lock is free while fewer than
      # lock_limit jobs hold it. Returns per group the jid when that job holds the lock (taken
      # now, or already its own), nil when it does not.
      LOCK = <<~LUA
        local held = {}
        for i = 1, #ARGV, 7 do
          local digest, jid = ARGV[i], ARGV[i + 1]
          local locked = digest .. ":LOCKED"
          if redis.call("HLEN", locked) >= tonumber(ARGV[i + 5]) then
            held[#held + 1] = redis.call("HEXISTS", locked, jid) == 1 and jid
          else
            local pttl, info = tonumber(ARGV[i + 2]), ARGV[i + 6]
            redis.call("SET", digest, jid)
            redis.call("HSET", locked, jid, ARGV[i + 4])
            if info ~= "" then redis.call("SET", digest .. ":INFO", info) end
            redis.call("ZADD", KEYS[1], ARGV[i + 3], digest)
            if pttl > 0 then
              redis.call("PEXPIRE", digest, pttl)
              redis.call("PEXPIRE", locked, pttl)
              if info ~= "" then redis.call("PEXPIRE", digest .. ":INFO", pttl) end
            end
            held[#held + 1] = jid
          end
        end
        return held
      LUA

      # At execution of a job whose lock was taken at push. ARGV: jid, pttl, now, lock_limit.
      # Returns 1 if the job still holds it (its age in the digests set is renewed, so the reaper
      # leaves it alone while it runs), 2 if it was free and taken again (it expired), 0 if
      # lock_limit other jobs hold it.
      CONFIRM = <<~LUA
        if redis.call("HEXISTS", KEYS[2], ARGV[1]) == 1 then
          redis.call("ZADD", KEYS[3], ARGV[3], KEYS[1])
          return 1
        end
        if redis.call("HLEN", KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
        redis.call("SET", KEYS[1], ARGV[1])
        redis.call("HSET", KEYS[2], ARGV[1], ARGV[3])
        redis.call("ZADD", KEYS[3], ARGV[3], KEYS[1])
        local pttl = tonumber(ARGV[2])
        if pttl > 0 then
          redis.call("PEXPIRE", KEYS[1], pttl)
          redis.call("PEXPIRE", KEYS[2], pttl)
        end
        return 2
      LUA

      # KEYS[1] the digests set, ARGV (digest, jid) pairs: releases each lock its job holds (a
      # :RUN lock also wakes the plugin's waiting processes). The engine sends the same script
      # with its acknowledgements, so its text lives once, in Rust (core/src/unique_jobs.rs).
      RELEASE = Native::UNIQUE_RELEASE_SCRIPT

      # The reaper's removal of one orphan. ARGV: the jids it found dead, the cutoff. Only locks
      # whose age is still past the cutoff go, so a job that started meanwhile keeps its lock.
      # KEYS[6], when given: the plugin's expiring digests, which lose the digest too (a deletion
      # from the Web UI). Returns how many holders were removed.
      REAP = <<~LUA
        local score = redis.call("ZSCORE", KEYS[3], KEYS[1])
        if score and tonumber(score) > tonumber(ARGV[#ARGV]) then return 0 end
        local removed = 0
        for i = 1, #ARGV - 1 do removed = removed + redis.call("HDEL", KEYS[2], ARGV[i]) end
        if redis.call("HLEN", KEYS[2]) == 0 then
          redis.call("DEL", KEYS[1], KEYS[2], KEYS[5])
          redis.call("ZREM", KEYS[3], KEYS[1])
          if KEYS[6] then redis.call("ZREM", KEYS[6], KEYS[1]) end
        end
        return removed
      LUA

      # The :replace strategy: deletes the waiting job (KEYS[1] its queue list, KEYS[2] schedule,
      # KEYS[3] retry) whose payload carries ARGV[1] as its lock_digest, then the lock itself
      # (KEYS[4..8], as above). Walks the whole list and sets, as the plugin does: only on a
      # conflict of a job that asked for :replace. Returns how many jobs were deleted.
      DELETE_WAITING = <<~LUA
        local needle = '"lock_digest":"' .. ARGV[1] .. '"'
        local deleted = 0
        for _, payload in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
          if string.find(payload, needle, 1, true) then
            deleted = deleted + redis.call("LREM", KEYS[1], 1, payload)
          end
        end
        for i = 2, 3 do
          for _, payload in ipairs(redis.call("ZRANGE", KEYS[i], 0, -1)) do
            if string.find(payload, needle, 1, true) then deleted = deleted + redis.call("ZREM", KEYS[i], payload) end
          end
        end
        redis.call("DEL", KEYS[4], KEYS[5], KEYS[8])
        redis.call("ZREM", KEYS[6], KEYS[4])
        return deleted
      LUA

      SOURCES = { lock: LOCK, confirm: CONFIRM, release: RELEASE, reap: REAP, delete_waiting: DELETE_WAITING }.freeze
      SHAS = SOURCES.transform_values { |source| Digest::SHA1.hexdigest(source) }.freeze

      DIGESTS = "uniquejobs:digests"

      module_function

      # The keys of the lock named +digest+, in the order the scripts take them.
      def keys(digest)
        [digest, "#{digest}:LOCKED", DIGESTS, "#{digest}:QUEUED", "#{digest}:INFO"]
      end

      # EVALSHA, and EVAL once when the server has not seen the script (a restart, a failover,
      # SCRIPT FLUSH): one round trip per call in the steady state.
      def run(conn, name, digest, argv, before: [], after: [])
        evaluate(conn, name, before + keys(digest) + after, argv)
      end

      # Takes the locks of +groups+ ([digest, jid, pttl, score, now, limit, info] each) in one
      # call; returns per group whether its job holds the lock.
      def lock(conn, groups)
        evaluate(conn, :lock, [DIGESTS], groups.flatten).map { |jid| !jid.nil? }
      end

      # Releases the locks of (digest, jid) +pairs+ in one call.
      def release(conn, pairs)
        evaluate(conn, :release, [DIGESTS], pairs.flatten)
      end

      def evaluate(conn, name, all_keys, argv)
        conn.call("EVALSHA", SHAS.fetch(name), all_keys.size, *all_keys, *argv)
      rescue StandardError => e
        raise unless e.message.start_with?("NOSCRIPT")

        conn.call("EVAL", SOURCES.fetch(name), all_keys.size, *all_keys, *argv)
      end
    end
  end
end
