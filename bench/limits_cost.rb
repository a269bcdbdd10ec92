# frozen_string_literal: true

# What queue limits cost the drain: Ferrokiq's server draining the same jobs with no limit and
# with a limit on the queue high enough never to bind (so only the counting is measured), run
# alternately on one throwaway redis-server (docs/design.md, §23). FETCH=basic measures basic
# fetch, whose counting adds the taken lists' entries. DYNAMIC=1 measures `:dynamic:` instead:
# the queue configured (`-q other -q default`) against the same queue found in Redis
# (`-q other` and `:dynamic: true`), the same fetch order either way.
#
#   ruby bench/limits_cost.rb                       # 100k jobs, -c 10, 3 pairs
#   BENCH_JOBS=200000 CONCURRENCY=25 PAIRS=5 ruby bench/limits_cost.rb
#   FETCH=basic ruby bench/limits_cost.rb
#   DYNAMIC=1 ruby bench/limits_cost.rb
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
FETCH = ENV.fetch("FETCH", "reliable")
DYNAMIC = ENV["DYNAMIC"] == "1"
JOB_FILE = File.join(__dir__, "drain_jobs.rb")
# Above any prefetch plus running jobs: the limit is counted at every batch but never binds.
UNBINDING_LIMIT = 1_000_000

def now
  Process.clock_gettime(Process::CLOCK_REALTIME)
end

# Redis's own time in scripts per job moved (the batch fetch is the script that runs most): less
# noisy than the drain rate on a shared machine.
def script_micros_per_job(redis)
  stats = redis.with { |conn| conn.call("INFO", "commandstats") }
  micros = stats.scan(/^cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/).sum { |(usec)| Integer(usec) }
  micros.to_f / JOBS
end

# Redis's time in every command per job: basic fetch's counting adds a command (LPOP) outside
# the script.
def redis_micros_per_job(redis)
  stats = redis.with { |conn| conn.call("INFO", "commandstats") }
  stats.scan(/^cmdstat_[^:]+:calls=\d+,usec=(\d+)/).sum { |(usec)| Integer(usec) }.to_f / JOBS
end

# The server's command line: the queues, and a config file turning `:dynamic:` on.
def server_args(dynamic)
  return ["-q", "default"] unless DYNAMIC
  return ["-q", "other", "-q", "default"] unless dynamic

  config = File.join(Dir.tmpdir, "limits_cost_dynamic.yml")
  File.write(config, ":dynamic: true\n")
  ["-q", "other", "-C", config]
end

# An empty Redis with the jobs waiting and the limit, if any, set.
def load_jobs(redis, limit)
  redis.with(&:flushdb)
  redis.with { |conn| conn.set("limit_fetch:limit:default", limit.to_s) } if limit
  BenchClient.push_load(redis, JOBS, active_job: false)
  redis.with { |conn| conn.call("CONFIG", "RESETSTAT") }
end

# Jobs per second from the first job taken to the last one done.
def drain(url, limit, dynamic: false)
  redis = Sidekiq::RedisConnection.create(url:)
  load_jobs(redis, limit)
  env = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s }
  command = [RbConfig.ruby, File.join(ROOT, "exe", "sidekiq"), "-r", JOB_FILE, "-c", CONCURRENCY,
             "--fetch", FETCH, *server_args(dynamic)]
  pid = Process.spawn(env, *command, chdir: Dir.tmpdir, out: File::NULL, err: File::NULL)
  started = nil
  sleep 0.001 until started ||= (now if redis.with { |conn| conn.llen("queue:default") } < JOBS)
  sleep 0.01 until (finished = redis.with { |conn| conn.get("bench:finished") })
  { "drain (jobs/s)" => JOBS / (Float(finished) - started),
    "Redis script time (ns/job)" => script_micros_per_job(redis) * 1000,
    "Redis time, all commands (ns/job)" => redis_micros_per_job(redis) * 1000 }
ensure
  if pid
    Process.kill("TERM", pid)
    Process.wait(pid)
  end
end

Bench.with_redis do |url|
  if DYNAMIC
    sides = { "configured" => ->(_env) { drain(url, nil) }, "dynamic" => ->(_env) { drain(url, nil, dynamic: true) } }
    runs = Bench.alternate(PAIRS, sides, {})
    puts "\n#{JOBS} jobs, -c #{CONCURRENCY}, #{FETCH} fetch, queue default configured or found in Redis"
    Bench.report(runs, unit: "", baseline: "configured", candidate: "dynamic")
  else
    sides = { "no limit" => ->(_env) { drain(url, nil) }, "limited" => ->(_env) { drain(url, UNBINDING_LIMIT) } }
    runs = Bench.alternate(PAIRS, sides, {})
    puts "\n#{JOBS} jobs, -c #{CONCURRENCY}, #{FETCH} fetch, limit_fetch:limit:default = #{UNBINDING_LIMIT}"
    Bench.report(runs, unit: "", baseline: "no limit", candidate: "limited")
  end
end
