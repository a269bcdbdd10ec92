# frozen_string_literal: true

# Drain benchmark: Ferrokiq's server against Debian's Sidekiq 6.4.1, alternating (A B A B ...)
# on one throwaway redis-server. Each run pushes BENCH_JOBS jobs of the sidekiqload shape
# (push_bulk, 1,000 per call), starts the server, and clocks from the first job taken to the
# last one done, and reports the server's RSS. Then both servers run probes: how long an idle
# server takes to start a job pushed now, and how late scheduled jobs start.
#
#   ruby bench/drain.rb                     # 100k jobs, -c 10, WARN logging, 3 pairs
#   BENCH_JOBS=500000 CONCURRENCY=25 BENCH_LOG_LEVEL=INFO PAIRS=5 FETCH=basic ruby bench/drain.rb
#   REDIS_RTT_US=1000 ruby bench/drain.rb   # Redis behind a proxy that makes each round trip 1 ms
#   BENCH_ACTIVE_JOB=1 ruby bench/drain.rb  # the same job through Rails 6.1's Active Job adapter
#   PAIRS=0 BENCH_CLIENT_MIDDLEWARE=1 ruby bench/drain.rb  # probes with a client middleware in the servers
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "rbconfig"
require "tmpdir"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require_relative "support"
require_relative "drain_jobs_client"

ROOT = File.expand_path("..", __dir__)
JOBS = Integer(ENV.fetch("BENCH_JOBS", 100_000))
CONCURRENCY = ENV.fetch("CONCURRENCY", "10")
PAIRS = Integer(ENV.fetch("PAIRS", 3))
PROBES = Integer(ENV.fetch("PROBES", 200))
JOB_FILE = File.join(__dir__, "drain_jobs.rb")
ACTIVE_JOB = ENV.key?("BENCH_ACTIVE_JOB")
if ACTIVE_JOB # the client serializes the jobs with Active Job itself
  ENV["BENCH_JOBS"] = JOBS.to_s
  require JOB_FILE
end

def now
  Process.clock_gettime(Process::CLOCK_REALTIME)
end

def server_command(name)
  if name == "Ferrokiq"
    fetch = ENV["FETCH"] ? ["--fetch", ENV["FETCH"]] : []
    [RbConfig.ruby, File.join(ROOT, "exe", "sidekiq"), "-r", JOB_FILE, "-c", CONCURRENCY, *fetch]
  else
    [RbConfig.ruby, "/usr/bin/sidekiq", "-r", JOB_FILE, "-c", CONCURRENCY]
  end
end

def with_server(name, url, env = {})
  base = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s }.merge(env)
  env = name == "Ferrokiq" ? base : Bench.peer_env(base)
  pid = Process.spawn(env, *server_command(name), chdir: Dir.tmpdir, out: File::NULL, err: File::NULL)
  yield pid
ensure
  Process.kill("TERM", pid)
  Process.wait(pid)
end

def drain(name, url)
  redis = Sidekiq::RedisConnection.create(url: url)
  redis.with(&:flushdb)
  BenchClient.push_load(redis, JOBS, active_job: ACTIVE_JOB)
  started = nil
  with_server(name, url) do |pid|
    sleep 0.001 until (started ||= (now if redis.with { |conn| conn.llen("queue:default") } < JOBS))
    rss_at_start = rss_mb(pid)
    sleep 0.01 until (finished = redis.with { |conn| conn.get("bench:finished") })
    { "drain (jobs/s)" => JOBS / (Float(finished) - started),
      "RSS when draining starts (MB)" => rss_at_start, "RSS after the drain (MB)" => rss_mb(pid) }
  end
end

def rss_mb(pid)
  File.read("/proc/#{pid}/status")[/^VmRSS:\s+(\d+)/, 1].to_i / 1024.0
end

# How long an idle server takes to start a job pushed now (p50/p99 over PROBES probes).
def pickup(name, url)
  redis = Sidekiq::RedisConnection.create(url: url)
  redis.with(&:flushdb)
  with_server(name, url, "BENCH_JOBS" => "1") do
    sleep 0.05 until redis.with { |conn| conn.scard("processes") }.positive?
    sleep 1
    client = Sidekiq::Client.new(pool: redis)
    PROBES.times do
      client.push("class" => "LatenessJob", "args" => [now])
      sleep 0.02
    end
    sleep 0.05 until redis.with { |conn| conn.llen("bench:lateness") } >= PROBES
  end
  percentiles("pickup latency", redis)
end

def percentiles(label, redis)
  late = redis.with { |conn| conn.lrange("bench:lateness", 0, -1) }.map(&:to_f).sort
  { "#{label} p50 (ms)" => late[late.size / 2] * 1000, "#{label} p99 (ms)" => late[(late.size * 0.99).floor] * 1000 }
end

def lateness(name, url)
  redis = Sidekiq::RedisConnection.create(url: url)
  redis.with(&:flushdb)
  with_server(name, url, "BENCH_JOBS" => "1") do
    sleep 16 # past Sidekiq's initial scheduler wait (10-15 s), as a long-running server would be
    BenchClient.schedule_probes(redis, PROBES, spread: 15.0)
    sleep 0.1 until redis.with { |conn| conn.llen("bench:lateness") } >= PROBES
  end
  percentiles("scheduled lateness", redis)
end

Bench.with_redis do |url|
  if PAIRS.positive?
    sides = %w[Ferrokiq Sidekiq\ 6.4.1].to_h { |name| [name, ->(_env) { drain(name, url) }] }
    runs = Bench.alternate(PAIRS, sides, {})
    puts "\n#{JOBS} jobs, -c #{CONCURRENCY}, #{ENV.fetch("BENCH_LOG_LEVEL", "WARN")} logging, " \
         "#{ENV.fetch("FETCH", "reliable")} fetch (Ferrokiq), Redis round trip +#{ENV.fetch("REDIS_RTT_US", 0)} us" \
         "#{", through Active Job" if ACTIVE_JOB}"
    Bench.report(runs, unit: "", baseline: "Sidekiq 6.4.1", candidate: "Ferrokiq")
  end
  next if PROBES.zero?

  puts "\nLatency (#{PROBES} probes each, one idle server, -c #{CONCURRENCY}" \
       "#{", a client middleware configured" if ENV["BENCH_CLIENT_MIDDLEWARE"]}):"
  %w[Ferrokiq Sidekiq\ 6.4.1].each do |name|
    results = pickup(name, url).merge(lateness(name, url))
    puts format("  %-14s %s", name, results.map { |k, v| "#{k}: #{v.round(1)}" }.join(", "))
  end
end
