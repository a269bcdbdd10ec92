# frozen_string_literal: true

# What unique-job locks cost: Ferrokiq's client pushing, and its server draining, the same jobs
# without a lock and with one each (until_executed by default, every job its own digest), run
# alternately on one throwaway redis-server (docs/design.md, §24). Pushes are timed in bulk
# (push_bulk, slices of 1,000) and one job at a time (Client#push, SINGLE_JOBS of them, a tenth of
# BENCH_JOBS by default), with the client's and Redis's CPU time per job. Besides the rates it reports
# Redis's CPU time and its script calls per job during the drain, which the shared machine's
# noise blurs less, and how many locks were still held when the last job ended (releases that
# trail the drain do their Redis work outside the measured time).
#
#   ruby bench/unique_cost.rb                      # 100k jobs, -c 10, reliable fetch, 3 pairs
#   BENCH_JOBS=50000 PAIRS=5 FETCH=basic LOCK=until_executing ruby bench/unique_cost.rb
#   BENCH_JOB_WORK=10 ruby bench/unique_cost.rb    # jobs with ~35 µs of Ruby work (bench/drain_jobs.rb)
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "etc"
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
SINGLE_JOBS = Integer(ENV.fetch("SINGLE_JOBS", JOBS / 10))
FETCH = ENV.fetch("FETCH", "reliable")
LOCK = ENV.fetch("LOCK", "until_executed")
JOB_FILE = File.join(__dir__, "drain_jobs.rb")

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def wall_clock
  Process.clock_gettime(Process::CLOCK_REALTIME)
end

# Redis's CPU seconds so far (user and system).
def redis_cpu(redis)
  info = redis.with { |conn| conn.call("INFO", "cpu") }
  info.scan(/^used_cpu_(?:user|sys):([\d.]+)/).sum { |(seconds)| Float(seconds) }
end

# Script calls (EVALSHA and EVAL) since the last CONFIG RESETSTAT, per job: fetch batches and
# lock releases ride on them.
def scripts_per_job(redis)
  stats = redis.with { |conn| conn.call("INFO", "commandstats") }
  calls = stats.scan(/^cmdstat_eval(?:sha)?:calls=(\d+)/).sum { |(count)| Integer(count) }
  calls.to_f / JOBS
end

def client_cpu
  Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
end

# Jobs per second, and the client's and Redis's CPU nanoseconds per job, of +count+ pushes.
def push(redis, count)
  started = now
  cpu = client_cpu
  server = redis_cpu(redis)
  yield
  per_job = ->(seconds) { seconds / count * 1e9 }
  [count / (now - started), per_job[client_cpu - cpu], per_job[redis_cpu(redis) - server]]
end

def push_figures(name, (rate, client, server))
  { "#{name} (jobs/s)" => rate, "#{name}, client CPU ns/job" => client, "#{name}, Redis CPU ns/job" => server }
end

# Pushes one at a time, then in bulk (both timed), leaving the bulk push's jobs queued.
def pushes(redis, lock)
  redis.with(&:flushdb)
  single = push(redis, SINGLE_JOBS) { BenchClient.push_singles(redis, SINGLE_JOBS, lock:) }
  redis.with(&:flushdb)
  push_figures("push", push(redis, JOBS) { BenchClient.push_load(redis, JOBS, lock:) })
    .merge(push_figures("single push", single))
end

# Pushes, then drains.
def run(url, lock)
  redis = Sidekiq::RedisConnection.create(url:)
  pushed = pushes(redis, lock)
  redis.with { |conn| conn.call("CONFIG", "RESETSTAT") }
  cpu = redis_cpu(redis)
  drain_rate, server_cpu, held_at_end = drain(redis, url)
  # The last releases follow the last job's end by a few milliseconds (until_expired's locks
  # stay: their TTL ends them).
  settled = now + 10
  sleep 0.01 until lock.nil? || now > settled || redis.with { |conn| conn.zcard("uniquejobs:digests") }.zero?
  { "drain (jobs/s)" => drain_rate, **pushed,
    "server CPU in drain (ns/job)" => server_cpu / JOBS * 1e9,
    "Redis CPU in drain (ns/job)" => (redis_cpu(redis) - cpu) / JOBS * 1e9,
    "scripts per 1,000 jobs" => scripts_per_job(redis) * 1000,
    "locks held when the drain ended" => held_at_end.to_f }
end

# The CPU seconds (user and system) process +pid+ has used so far.
def process_cpu(pid)
  fields = File.read("/proc/#{pid}/stat").split(") ").last.split
  (Integer(fields[11]) + Integer(fields[12])).to_f / Etc.sysconf(Etc::SC_CLK_TCK)
end

# Jobs per second from the first job taken to the last one done, the server's CPU seconds
# meanwhile, and the locks still held then.
def drain(redis, url)
  env = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s }
  command = [RbConfig.ruby, File.join(ROOT, "exe", "sidekiq"), "-r", JOB_FILE, "-c", CONCURRENCY, "--fetch", FETCH]
  pid = Process.spawn(env, *command, chdir: Dir.tmpdir, out: File::NULL, err: File::NULL)
  started = nil
  sleep 0.001 until started ||= (wall_clock if redis.with { |conn| conn.llen("queue:default") } < JOBS)
  cpu = process_cpu(pid)
  sleep 0.01 until (finished = redis.with { |conn| conn.get("bench:finished") })
  held = redis.with { |conn| conn.zcard("uniquejobs:digests") }
  [JOBS / (Float(finished) - started), process_cpu(pid) - cpu, held]
ensure
  if pid
    Process.kill("TERM", pid)
    Process.wait(pid)
  end
end

Bench.with_redis do |url|
  sides = { "no lock" => ->(_env) { run(url, nil) }, LOCK => ->(_env) { run(url, LOCK) } }
  runs = Bench.alternate(PAIRS, sides, {})
  puts "\n#{JOBS} jobs, -c #{CONCURRENCY}, #{FETCH} fetch, lock: #{LOCK} (each job its own digest), " \
       "BENCH_JOB_WORK=#{ENV.fetch("BENCH_JOB_WORK", 0)}"
  Bench.report(runs, unit: "", baseline: "no lock", candidate: LOCK)
end
