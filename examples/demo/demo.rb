# frozen_string_literal: true

require "json"
require "socket"

# The demo's own bookkeeping, shared by its scripts (none of this is needed to use Ferrokiq):
# the queue names of this run, output that suits a terminal or a pipe, and the state bin/demo
# keeps between its steps so that, at the end, it can remove everything it added to Redis.
#
# Redis may be the user's own ($REDIS_URL), holding other applications' jobs. So the demo
#   - names its queues with a prefix of its own, fresh for every run (ferrokiq-demo-3f9a1c-critical, ...),
#     and its server listens to those queues only;
#   - finds its jobs in the shared sets (schedule, retry, dead) by their queue, and removes them;
#   - runs its server with basic fetch (see process.rb), which touches no other process's lists;
#   - holds the scheduler lease while its server runs (see SchedulerLease), so that server never
#     moves anyone else's due jobs or prunes the process registry;
#   - takes its own share back out of Sidekiq's shared stats counters (see Stats) and removes its
#     job classes' execution metrics (see Metrics).
module Demo
  PREFIX = ENV.fetch("FERROKIQ_DEMO_PREFIX") { abort "#{$PROGRAM_NAME}: run the demo with bin/demo" }
  # Where bin/demo keeps this run's state (removed at the end); the server writes its tally there.
  DIR = ENV.fetch("FERROKIQ_DEMO_DIR") { abort "#{$PROGRAM_NAME}: run the demo with bin/demo" }
  # The queues the server listens to, with their weights.
  WEIGHTS = { "critical" => 3, "mailers" => 2, "default" => 1, "low" => 1 }.freeze

  module_function

  # The name of one of this run's queues: queue("mailers") is "ferrokiq-demo-3f9a1c-mailers".
  def queue(name)
    "#{PREFIX}-#{name}"
  end

  def queues
    WEIGHTS.keys.map { |name| queue(name) }
  end

  # Whether a job (a Hash, or a Data API record) is one of this run's.
  def own?(job)
    job["queue"].to_s.start_with?("#{PREFIX}-")
  end

  # This run's entries of a Data API sorted set (Sidekiq::ScheduledSet, RetrySet, DeadSet).
  def entries(set)
    set.scan(PREFIX, 1000).select { |entry| own?(entry) }
  end

  # The identity (hostname:pid:nonce) of the server process +pid+ on this host, once it has
  # registered. (Read from `processes` alone: the demo looks at no other process's data.)
  def identity_of(pid)
    host = ENV["DYNO"] || Socket.gethostname
    Sidekiq.redis { |conn| conn.call("SMEMBERS", "processes") }.find { |member| member.start_with?("#{host}:#{pid}:") }
  end

  # When process +pid+ started (clock ticks since boot, from /proc), or nil once it has exited.
  # With the pid it names one process, even if the pid is reused later.
  def started_at(pid)
    state, *fields = File.read("/proc/#{pid}/stat").split(") ", 2).last.split
    fields[18] unless state == "Z"
  rescue SystemCallError
    nil
  end

  def heading(title)
    puts
    puts($stdout.tty? ? "\e[1m#{title}\e[0m" : title)
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # State shared by the steps, one JSON file per name in DIR (written whole or not at all, even
  # when a step is interrupted).
  def save(name, value)
    path = File.join(DIR, "#{name}.json")
    File.write("#{path}.#{Process.pid}", JSON.generate(value))
    File.rename("#{path}.#{Process.pid}", path)
  end

  def load(name)
    path = File.join(DIR, "#{name}.json")
    File.exist?(path) ? JSON.parse(File.read(path)) : nil
  end

  # Ferrokiq's servers take turns moving due jobs from the schedule and retry sets to their
  # queues (and pruning `processes` of dead members): one at a time, the holder of this lease.
  # The demo holds it while its server runs, so that server never moves jobs the demo did not
  # create. (If another Ferrokiq process holds it, that one keeps doing what it would do anyway.)
  # The lease is the engine's own key (core/src/server/scheduler.rs); the demo renews it every
  # second, as the engine does, and deletes it at the end.
  class SchedulerLease
    KEY = "ferrokiq:scheduler"
    TTL_MS = 5_000
    TAKE = <<~LUA
      local holder = redis.call('GET', KEYS[1])
      if holder == ARGV[1] or not holder then
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
      end
      return 0
    LUA
    RELEASE = <<~LUA
      if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
      return 0
    LUA

    def initialize
      @holder = PREFIX
      @lock = Mutex.new
      @released = ConditionVariable.new
      @done = false
    end

    # Takes the lease (when free) and keeps renewing it every second until #release.
    def hold
      take
      @thread = Thread.new { renew until released_within?(1) }
      self
    end

    def release
      @lock.synchronize do
        @done = true
        @released.signal
      end
      @thread&.join
      Sidekiq.redis { |conn| conn.call("EVAL", RELEASE, 1, KEY, @holder) }
    end

    private

    def released_within?(seconds)
      @lock.synchronize do
        @released.wait(@lock, seconds) unless @done
        @done
      end
    end

    def renew
      take
    rescue StandardError
      nil # Redis away for a moment: try again in a second
    end

    def take
      Sidekiq.redis { |conn| conn.call("EVAL", TAKE, 1, KEY, @holder, TTL_MS) } == 1
    end
  end

  # Sidekiq's stats counters (stat:processed, stat:failed and their daily keys) are shared by
  # every process on a Redis, by design. Before its server starts the demo notes them (value and
  # expiry); at the end it subtracts exactly what its server counted (the tally that
  # examples/demo/server.rb writes), and puts back each key's expiry, or deletes a key that did
  # not exist before and is zero again. Alone on the Redis, that leaves every key as it was,
  # byte for byte; with other servers running meanwhile, their counts stay.
  module Stats
    NAMES = %w[processed failed].freeze
    # KEYS: a counter. ARGV: how much to subtract, '1' if the key existed before, its expiry
    # then (Unix ms, -1 for none).
    SUBTRACT = <<~LUA
      local left = redis.call('DECRBY', KEYS[1], ARGV[1])
      if ARGV[2] == '0' then
        if left == 0 then redis.call('DEL', KEYS[1]) end
      elseif ARGV[3] == '-1' then
        redis.call('PERSIST', KEYS[1])
      else
        redis.call('PEXPIREAT', KEYS[1], ARGV[3])
      end
      return left
    LUA
    # A key's absolute expiry in Unix ms (-1: none, -2: no key), for Redis without PEXPIRETIME.
    EXPIRETIME = <<~LUA
      local ttl = redis.call('PTTL', KEYS[1])
      if ttl < 0 then return ttl end
      local now = redis.call('TIME')
      return now[1] * 1000 + math.floor(now[2] / 1000) + ttl
    LUA

    module_function

    # The counters the server may write: the totals and the daily keys of today and tomorrow
    # (UTC; a run that crosses midnight writes both).
    def keys
      today = Time.now.utc
      dates = [today, today + 86_400].map { |time| time.strftime("%Y-%m-%d") }
      NAMES.flat_map { |name| ["stat:#{name}", *dates.map { |date| "stat:#{name}:#{date}" }] }
    end

    # { key => [value or nil, expiry in Unix ms or -1] }
    def snapshot
      Sidekiq.redis do |conn|
        keys.to_h { |key| [key, [conn.call("GET", key), expiry(conn, key)]] }
      end
    end

    def expiry(conn, key)
      conn.call("PEXPIRETIME", key)
    rescue Ferrokiq::CommandError # Redis before 7.0
      conn.call("EVAL", EXPIRETIME, 1, key)
    end

    # Takes +tally+ ({ "processed" => n, "failed" => n }) back out of the counters noted in
    # +before+; without a tally (the server did not exit cleanly), whatever they grew by.
    # Returns what it subtracted.
    def restore(before, tally)
      Sidekiq.redis do |conn|
        NAMES.to_h do |name|
          total, *daily = before.keys.select { |key| key.match?(/\Astat:#{name}(:|\z)/) }
          amount = tally ? tally.fetch(name) : growth(conn, total, before)
          subtract(conn, total, [amount, growth(conn, total, before)].min, before)
          # The daily keys hold the same counts, split by the date of each flush: newest first.
          left = amount
          daily.reverse_each do |key|
            taken = [left, growth(conn, key, before)].min
            subtract(conn, key, taken, before)
            left -= taken
          end
          [name, amount]
        end
      end
    end

    def growth(conn, key, before)
      [conn.call("GET", key).to_i - before.fetch(key).first.to_i, 0].max
    end

    def subtract(conn, key, amount, before)
      return if amount.zero?

      value, expiry = before.fetch(key)
      conn.call("EVAL", SUBTRACT, 1, key, amount, value ? 1 : 0, value ? expiry : -1)
    end
  end

  # Removes everything this run added to Redis: its queues, its jobs in the schedule, retry and
  # dead sets, its server's entries in the process registry and reliable fetch's working lists,
  # the scheduler lease if still held, and its share of the stats counters. Safe to run twice.
  # Returns what it removed, by kind.
  def clean_up(identity: nil)
    removed = { queued: clear_queues }
    [Sidekiq::ScheduledSet.new, Sidekiq::RetrySet.new, Sidekiq::DeadSet.new].each do |set|
      removed[set.name.to_sym] = entries(set).sum(&:delete)
    end
    removed[:server] = Sidekiq.redis { |conn| forget_server(conn, identity) } if identity
    Sidekiq.redis { |conn| conn.call("EVAL", SchedulerLease::RELEASE, 1, SchedulerLease::KEY, PREFIX) }
    before = load("stats")
    removed[:stats] = Stats.restore(before, load("tally")) if before
    removed[:metrics] = Metrics.remove
    removed
  end

  # The server records Sidekiq 7's execution metrics for the demo's job classes: per-minute
  # hashes `j|YYYYMMDD|H:M` shared by every app (the demo deletes only its classes' fields; a hash
  # left empty disappears) and per-class histogram keys `<Class>-DD-HH:M` (deleted). They live 8
  # hours, so a scan finds them all.
  module Metrics
    CLASSES = %w[WelcomeMailerJob ChargeCardJob ReindexJob ReminderJob FlakyGatewayJob].freeze
    FIELDS = CLASSES.flat_map { |klass| %w[p f ms].map { |kind| "#{klass}|#{kind}" } }.freeze

    module_function

    # Returns how many keys it changed or deleted.
    def remove
      Sidekiq.redis do |conn|
        hashes = scan(conn, "j|*").count { |key| conn.call("HDEL", key, *FIELDS).positive? }
        histograms = CLASSES.sum { |klass| scan(conn, "#{klass}-*").sum { |key| conn.call("DEL", key) } }
        hashes + histograms
      end
    end

    def scan(conn, pattern)
      keys = []
      cursor = "0"
      loop do
        cursor, batch = conn.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys.concat(batch)
        return keys if cursor == "0"
      end
    end
  end

  # Deletes this run's queues (and their `queues` members); returns how many jobs they held.
  def clear_queues
    known = Sidekiq.redis { |conn| conn.call("SMEMBERS", "queues") }.select { |name| name.start_with?("#{PREFIX}-") }
    (queues | known).sum do |name|
      queue = Sidekiq::Queue.new(name)
      queue.size.tap { queue.clear }
    end
  end

  # A stopped server leaves its heartbeat hash to expire (as Sidekiq's does); the demo deletes
  # it now, with anything else under the server's identity.
  def forget_server(conn, identity)
    working = conn.call("HKEYS", "ferrokiq:working").select { |key| key.start_with?("ferrokiq:working:#{identity}:") }
    conn.call("HDEL", "ferrokiq:working", *working) unless working.empty?
    keys = [identity, "#{identity}:work", "#{identity}:workers", "#{identity}-signals", *working]
    conn.call("SREM", "processes", identity) + conn.call("DEL", *keys)
  end
end
