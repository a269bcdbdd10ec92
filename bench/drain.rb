# frozen_string_literal: true

# Drain benchmark: Ferrokiq's server against Debian's Sidekiq 6.4.1, alternating (A B A B ...)
# on one throwaway redis-server. Each run pushes BENCH_JOBS jobs of the sidekiqload shape
# (push_bulk, 1,000 per call), starts the server, and clocks from the first job taken to the
# last one done. Then both servers run scheduled probes to measure how late due jobs start.
#
#   ruby bench/drain.rb                     # 100k jobs, -c 10, WARN logging, 3 pairs
#   BENCH_JOBS=500000 CONCURRENCY=25 BENCH_LOG_LEVEL=INFO PAIRS=5 FETCH=basic ruby bench/drain.rb
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
PROBES = Integer(ENV.fetch("PROBES", 100))
JOB_FILE = File.join(__dir__, "drain_jobs.rb")

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
  yield
ensure
  Process.kill("TERM", pid)
  Process.wait(pid)
end

def drain(name, url)
  redis = Sidekiq::RedisConnection.create(url: url)
  redis.with(&:flushdb)
  BenchClient.push_load(redis, JOBS)
  started = nil
  with_server(name, url) do
    sleep 0.001 until (started ||= (now if redis.with { |conn| conn.llen("queue:default") } < JOBS))
    sleep 0.01 until (finished = redis.with { |conn| conn.get("bench:finished") })
    { "drain (jobs/s)" => JOBS / (Float(finished) - started) }
  end
end

def lateness(name, url)
  redis = Sidekiq::RedisConnection.create(url: url)
  redis.with(&:flushdb)
  with_server(name, url, "BENCH_JOBS" => "1") do
    sleep 16 # past Sidekiq's initial scheduler wait (10-15 s), as a long-running server would be
    BenchClient.schedule_probes(redis, PROBES, spread: 15.0)
    sleep 0.1 until redis.with { |conn| conn.llen("bench:lateness") } >= PROBES
  end
  late = redis.with { |conn| conn.lrange("bench:lateness", 0, -1) }.map(&:to_f).sort
  { "scheduled lateness p50 (s)" => late[late.size / 2], "scheduled lateness p99 (s)" => late[(late.size * 0.99).floor] }
end

Bench.with_redis do |url|
  if PAIRS.positive?
    sides = %w[Ferrokiq Sidekiq\ 6.4.1].to_h { |name| [name, ->(_env) { drain(name, url) }] }
    runs = Bench.alternate(PAIRS, sides, {})
    puts "\n#{JOBS} jobs, -c #{CONCURRENCY}, #{ENV.fetch("BENCH_LOG_LEVEL", "WARN")} logging, " \
         "#{ENV.fetch("FETCH", "reliable")} fetch (Ferrokiq)"
    Bench.report(runs, unit: "", baseline: "Sidekiq 6.4.1", candidate: "Ferrokiq")
  end
  next if PROBES.zero?

  puts "\nScheduled jobs (#{PROBES} probes due over 15 s, one server):"
  %w[Ferrokiq Sidekiq\ 6.4.1].each do |name|
    puts format("  %-14s %s", name, lateness(name, url).map { |k, v| "#{k}: #{v.round(3)}" }.join(", "))
  end
end
