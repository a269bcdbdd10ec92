# frozen_string_literal: true

require "digest"
require "ferrokiq/periodic/entry"

module Ferrokiq
  module Periodic
    # Reads and writes the schedule in sidekiq-scheduler's Redis keys (`schedules`,
    # `schedules_changed`, `sidekiq-scheduler:states`), which the Rust scheduler ticks from.
    #
    # A whole schedule (YAML or `Sidekiq.schedule =`) is published under a digest of its
    # content. A digest the cluster has seen before but since replaced is an older schedule, so
    # a process that boots later with it (a restart during a rolling deploy) leaves the newer
    # one alone; sidekiq-scheduler instead lets the last process to boot win. Rolling back on
    # purpose takes `force: true`. Each written entry is registered now (`ferrokiq:periodic:since`):
    # `every`/`in` count from then, and no tick before it is pushed. Entries named `cron_job:…`
    # belong to the sidekiq-cron API (Sidekiq::Cron::Job) and are left to it.
    module Store
      SCHEDULES = "schedules"
      CHANGED = "schedules_changed"
      STATES = "sidekiq-scheduler:states"
      LAST_TIMES = "sidekiq-scheduler:last_times"
      NEXT_TIMES = "sidekiq-scheduler:next_times"
      LAST_TICKS = "ferrokiq:periodic:last"
      SINCE = "ferrokiq:periodic:since"
      # Ticks pushed per entry with rufus' `times`; a changed entry counts afresh.
      RUNS = "ferrokiq:periodic:runs"
      DIGESTS = "ferrokiq:periodic:digests"
      # Digests remembered to recognise an older schedule.
      DIGESTS_KEPT = 100

      # KEYS: schedules, schedules_changed, digests, since, runs. ARGV: digest, now, force, kept,
      # then name/JSON pairs. Returns 1 when written, 0 when already current, -1 when older.
      PUBLISH = <<~LUA
        local current = redis.call('ZRANGE', KEYS[3], -1, -1)[1]
        if current == ARGV[1] then return 0 end
        if ARGV[3] ~= '1' and redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
        redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
        redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[4]) - 1)
        local since = math.floor(tonumber(ARGV[2]))
        local wanted = {}
        for i = 5, #ARGV, 2 do wanted[ARGV[i]] = ARGV[i + 1] end
        for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
          if not wanted[name] and string.sub(name, 1, 9) ~= 'cron_job:' then
            redis.call('HDEL', KEYS[1], name)
            redis.call('HDEL', KEYS[4], name)
            redis.call('HDEL', KEYS[5], name)
            redis.call('ZADD', KEYS[2], ARGV[2], name)
          end
        end
        for name, json in pairs(wanted) do
          if redis.call('HGET', KEYS[1], name) ~= json then
            redis.call('HSET', KEYS[1], name, json)
            redis.call('HSET', KEYS[4], name, since)
            redis.call('HDEL', KEYS[5], name)
            redis.call('ZADD', KEYS[2], ARGV[2], name)
          end
        end
        return 1
      LUA

      module_function

      # Publishes a whole schedule (name => config). Returns :written, :current or :older.
      def publish(schedule, force: false)
        entries = prepared(schedule)
        pairs = entries.sort.flat_map { |name, entry| [name, Sidekiq.dump_json(entry)] }
        digest = Digest::SHA256.hexdigest(Sidekiq.dump_json(pairs))
        result = Sidekiq.redis do |conn|
          conn.call("EVAL", PUBLISH, 5, SCHEDULES, CHANGED, DIGESTS, SINCE, RUNS,
                    digest, Time.now.to_f, force ? "1" : "0", DIGESTS_KEPT, *pairs)
        end
        { 1 => :written, 0 => :current, -1 => :older }.fetch(result)
      end

      def prepared(schedule)
        (schedule || {}).each_with_object({}) do |(name, config), entries|
          entry = Entry.prepare(name, config)
          next unless entry

          Entry.validate!(name, entry)
          entries[name.to_s] = entry
        end
      end

      # One entry; when it changed, its `every`/`in` timing (and its first cron tick) count
      # from now.
      def set(name, config)
        entry = Entry.prepare(name, config)
        return unless entry

        Entry.validate!(name, entry)
        json = Sidekiq.dump_json(entry)
        Sidekiq.redis do |conn|
          next if conn.call("HGET", SCHEDULES, name.to_s) == json

          conn.pipelined do |pipe|
            pipe.call("HSET", SCHEDULES, name.to_s, json)
            pipe.call("HSET", SINCE, name.to_s, Time.now.to_i)
            pipe.call("HDEL", RUNS, name.to_s)
            pipe.call("ZADD", CHANGED, Time.now.to_f, name.to_s)
          end
        end
      end

      def remove(name)
        Sidekiq.redis do |conn|
          conn.pipelined do |pipe|
            pipe.call("HDEL", SCHEDULES, name.to_s)
            [SINCE, RUNS, LAST_TICKS, LAST_TIMES, NEXT_TIMES, STATES].each { |key| pipe.call("HDEL", key, name.to_s) }
            pipe.call("ZADD", CHANGED, Time.now.to_f, name.to_s)
          end
        end
      end

      # name => config as stored (string keys), or one config when `name` is given.
      def get(name = nil)
        Sidekiq.redis do |conn|
          if name
            json = conn.call("HGET", SCHEDULES, name.to_s)
            json && Sidekiq.load_json(json)
          else
            conn.hgetall(SCHEDULES).transform_values { |json| Sidekiq.load_json(json) }
          end
        end
      end

      # The Web UI toggle when one was set, else the entry's own `enabled` (default true).
      def enabled?(name)
        state = Sidekiq.redis { |conn| conn.call("HGET", STATES, name.to_s) }
        return Sidekiq.load_json(state)["enabled"] if state

        entry = get(name)
        !entry.nil? && ![false, "false"].include?(entry["enabled"])
      end

      def set_enabled(name, enabled)
        state = Sidekiq.dump_json({ "enabled" => enabled ? true : false })
        Sidekiq.redis { |conn| conn.call("HSET", STATES, name.to_s, state) }
      end
    end
  end
end
