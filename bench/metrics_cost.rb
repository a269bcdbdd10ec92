# frozen_string_literal: true

# What the Prometheus endpoint costs: Ferrokiq's drain rate with the endpoint on (lifetime
# tallies kept per job, /metrics scraped every SCRAPE_EVERY seconds while the jobs drain)
# against off, alternating (off on off on ...) on one throwaway redis-server. Same jobs and
# clock as bench/drain.rb. The issue's bound is 2% of the bare drain rate. Beside the rate, the
# server's CPU time per job (user + system, from /proc) over the same span: on a shared machine
# the rate moves with the neighbours' load, the CPU a job costs much less. Last, the one thing
# the endpoint adds on a job's path, timed alone: `Engine#record_execution` with and without
# the lifetime tallies (5 rounds of RECORD_CALLS calls each, in this process, on an engine of
# its own; the fastest round counts).
#
#   ruby bench/metrics_cost.rb                          # 100k jobs, -c 10, 5 pairs, a scrape a second
#   BENCH_JOBS=200000 PAIRS=7 SCRAPE_EVERY=0.2 ruby bench/metrics_cost.rb
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "etc"
require "net/http"
require "rbconfig"
require "tmpdir"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require_relative "support"
require_relative "drain_jobs_client"

ROOT = File.expand_path("..", __dir__)
JOBS = Integer(ENV.fetch("BENCH_JOBS", 100_000))
CONCURRENCY = ENV.fetch("CONCURRENCY", "10")
PAIRS = Integer(ENV.fetch("PAIRS", 5))
SCRAPE_EVERY = Float(ENV.fetch("SCRAPE_EVERY", 1))
RECORD_CALLS = Integer(ENV.fetch("RECORD_CALLS", 1_000_000))
JOB_FILE = File.join(__dir__, "drain_jobs.rb")

def now
  Process.clock_gettime(Process::CLOCK_REALTIME)
end

# Scrapes /metrics until told to stop; the number of scrapes that answered 200.
def scraping(port)
  stop = false
  scraper = Thread.new do
    count = 0
    until stop
      count += 1 if (Net::HTTP.get_response(URI("http://127.0.0.1:#{port}/metrics")).code == "200" rescue false) # rubocop:disable Style/RescueModifier
      sleep SCRAPE_EVERY
    end
    count
  end
  yield
ensure
  stop = true
  scrapes = scraper&.value
  warn "  #{scrapes} scrapes" if scrapes
end

# User + system CPU seconds the process has used so far (all its threads).
def cpu_seconds(pid)
  fields = File.read("/proc/#{pid}/stat").split(") ").last.split
  (Integer(fields[11]) + Integer(fields[12])) / Float(Etc.sysconf(Etc::SC_CLK_TCK))
end

def start_server(url, port)
  env = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s }
  env["FERROKIQ_METRICS_PORT"] = port.to_s if port
  Process.spawn(env, RbConfig.ruby, File.join(ROOT, "exe", "sidekiq"), "-r", JOB_FILE, "-c", CONCURRENCY,
                chdir: Dir.tmpdir, out: File::NULL, err: File::NULL)
end

# [jobs/s, CPU microseconds per job], from the first job taken to the last one done.
def clock(redis, pid)
  started = nil
  sleep 0.001 until started ||= (now if redis.with { |conn| conn.llen("queue:default") } < JOBS)
  cpu_at_start = cpu_seconds(pid)
  sleep 0.01 until (finished = redis.with { |conn| conn.get("bench:finished") })
  [JOBS / (Float(finished) - started), (cpu_seconds(pid) - cpu_at_start) * 1e6 / JOBS]
end

def drain(url, metrics:)
  redis = Sidekiq::RedisConnection.create(url:)
  redis.with(&:flushdb)
  BenchClient.push_load(redis, JOBS, active_job: false)
  port = Bench.free_port if metrics
  pid = start_server(url, port)
  metrics ? scraping(port) { clock(redis, pid) } : clock(redis, pid)
ensure
  if pid
    Process.kill("TERM", pid)
    Process.wait(pid)
  end
end

# Nanoseconds per Engine#record_execution call: [without, with] the lifetime tallies.
def record_cost(url)
  redis = Sidekiq::RedisConnection.create(url:)
  options = {
    "identity" => "bench:#{Process.pid}:000000000000", "hostname" => "bench", "tag" => "", "labels" => [],
    "concurrency" => 1, "queues" => [["record-cost", 0]], "fetch" => "reliable", "version" => Sidekiq::VERSION,
    "dead_max_jobs" => 10, "dead_timeout" => 60.0, "stranded_after" => 60.0, "scheduler_defaults" => nil
  }
  engine = Ferrokiq::Native::Engine.new(redis.native, options)
  timed = lambda do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    RECORD_CALLS.times { |i| engine.record_execution("LoadJob", "default", i & 63, false) }
    (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1e9 / RECORD_CALLS
  end
  # The fastest of a few rounds each: what the code costs, less the neighbours' interruptions.
  without = Array.new(5) { timed.call }.min
  endpoint = Ferrokiq::Native::Operations.new(engine, "127.0.0.1", 0)
  [without, Array.new(5) { timed.call }.min]
ensure
  endpoint&.stop
  engine&.stop
end

Bench.with_redis do |url|
  runs = { off: [], on: [] }
  PAIRS.times do |i|
    %i[off on].each do |side|
      runs[side] << drain(url, metrics: side == :on)
      rate, cpu = runs[side].last
      warn format("pair %<i>d/%<n>d metrics %<side>-3s %<rate>.0f jobs/s, %<cpu>.2f us CPU/job",
                  i: i + 1, n: PAIRS, side:, rate:, cpu:)
    end
  end
  puts "\n#{JOBS} jobs, -c #{CONCURRENCY}, /metrics scraped every #{SCRAPE_EVERY} s when on" if PAIRS.positive?
  [["drain (jobs/s)", 0, 0], ["server CPU per job (us)", 1, 2]].each do |label, index, digits|
    next unless PAIRS.positive?

    off = runs[:off].map { |run| run[index] }
    on = runs[:on].map { |run| run[index] }
    ratios = on.zip(off).map { |a, b| a / b }
    puts "#{label.ljust(24)} off #{Bench.median(off).round(digits)}, on #{Bench.median(on).round(digits)} (medians); " \
         "on/off #{Bench.median(ratios).round(3)} (pairs: #{ratios.map { |r| r.round(3) }.join(" ")})"
  end
  without, with = record_cost(url)
  puts "Engine#record_execution: #{without.round} ns per call without lifetime tallies, #{with.round} ns with " \
       "(#{(with - without).round} ns more per job)"
end
