# frozen_string_literal: true

# Realistic benchmark: the app of bench/realistic_app.rb (client and server middleware logging
# through Sidekiq.logger and touching the payload, a death handler, default_job_options,
# strict_args!, INFO logging to standard output and a JSON log file, job bodies of 10-100 us of
# Ruby work, 1% of jobs failing) run by Ferrokiq's server and Debian's Sidekiq 6.4.1 alternately
# (A B A B ...) on one throwaway redis-server, with the same payloads and the same job file.
#
# Each pair: push rates with the client middleware (bench/realistic_push.rb: perform_async from
# one thread, push_bulk of 10k in calls of 1,000 and in one call), a worker per side alive at
# once and their rounds alternating; per side and row the median of PUSH_ROUNDS rounds (3) in
# each of PUSH_PROCESSES worker pairs (3); then
# one drain per concurrency: BENCH_JOBS jobs pushed through the client middleware, the server
# started with `-r bench/realistic_app.rb`, clocked from the first job taken to the last first
# attempt done (done or failed). Every drain is checked: all jobs ran once, the failures went to
# the retry and dead sets, the death handler ran, and the server that ran them was the one meant
# (Sidekiq 6.4.1 never loads Ferrokiq). Before each concurrency's pair of drains,
# bench/realistic_ceiling.rb runs the same jobs' own work with no server at all: the rate a server
# costing nothing would reach on the host at that moment. The last table sets both servers
# against it, so that a ratio can be read with what the host allowed.
#
#   ruby bench/realistic.rb                                   # 20k jobs, -c 1, 10, 25, 3 pairs
#   BENCH_JOBS=100000 CONCURRENCIES=10,25 PAIRS=5 ruby bench/realistic.rb
#   PUSH_SINGLE=10000 PUSH_BULK=50000 ruby bench/realistic.rb
#   KEEP_LOGS=1 ruby bench/realistic.rb                       # keep the servers' logs, print where
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "English"
require "fileutils"
require "rbconfig"
require "tmpdir"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require_relative "support"
require_relative "realistic_app"

ROOT = File.expand_path("..", __dir__)
JOBS = Integer(ENV.fetch("BENCH_JOBS", 20_000))
CONCURRENCIES = ENV.fetch("CONCURRENCIES", "1,10,25").split(",").map(&:strip)
PAIRS = Integer(ENV.fetch("PAIRS", 3))
JOB_FILE = File.join(__dir__, "realistic_app.rb")
PUSH_WORKER = File.join(__dir__, "realistic_push.rb")
CEILING = File.join(__dir__, "realistic_ceiling.rb")
PUSH_PROCESSES = Integer(ENV.fetch("PUSH_PROCESSES", 3))
PUSH_ROUNDS = Integer(ENV.fetch("PUSH_ROUNDS", 3))
SIDES = ["Ferrokiq", "Sidekiq 6.4.1"].freeze
LOG_DIR = Dir.mktmpdir("ferrokiq-realistic")

def now
  Process.clock_gettime(Process::CLOCK_REALTIME)
end

def server_command(name, concurrency)
  sidekiq = name == "Ferrokiq" ? File.join(ROOT, "exe", "sidekiq") : "/usr/bin/sidekiq"
  [RbConfig.ruby, sidekiq, "-r", JOB_FILE, "-c", concurrency]
end

def with_server(name, concurrency, url, logs)
  base = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s, "APP_LOG" => logs[:app] }
  env = name == "Ferrokiq" ? base : Bench.peer_env(base)
  pid = Process.spawn(env, *server_command(name, concurrency),
                      chdir: Dir.tmpdir, out: logs[:stdout], err: logs[:stderr])
  yield pid
ensure
  Process.kill("TERM", pid)
  Process.wait(pid)
end

def wait_until(what, pid, deadline)
  loop do
    return if yield
    raise "#{what}: the server exited" if Process.waitpid(pid, Process::WNOHANG)
    raise "#{what}: timed out" if now > deadline

    sleep 0.005
  end
end

# The emptied database with the jobs of a drain in queue:default; its Redis pool.
def fill_queue(url)
  Sidekiq::RedisConnection.create(url:).tap do |redis|
    redis.with(&:flushdb)
    RealisticLoad.push(JOBS, client: Sidekiq::Client.new(pool: redis))
  end
end

def drain(name, concurrency, url)
  redis = fill_queue(url)
  label = "#{name.split.first.downcase}-c#{concurrency}"
  logs = %i[stdout stderr app].to_h { |kind| [kind, File.join(LOG_DIR, "#{label}.#{kind}.log")] }
  logs.each_value { |path| FileUtils.rm_f(path) }
  started = nil
  result = with_server(name, concurrency, url, logs) do |pid|
    deadline = now + 120 + (JOBS / 100.0)
    wait_until("#{label} start", pid, deadline) do
      started ||= (now if redis.with { |conn| conn.llen("queue:default") } < JOBS)
    end
    rss_at_start = rss_mb(pid)
    finished = nil
    wait_until("#{label} drain", pid, deadline) { (finished = redis.with { |conn| conn.get("bench:finished") }) }
    rate = JOBS / (Float(finished) - started)
    rss = rss_mb(pid)
    check(name, label, redis, pid)
    { "drain -c #{concurrency} (jobs/s)" => rate, "RSS start/after -c #{concurrency} (MB)" => [rss_at_start, rss] }
  end
  summarize_logs(label, logs)
  result
end

# Everything ran, once, on the server meant: counts from the job file, the retry and dead sets,
# the death handler's counter.
def check(name, label, redis, pid)
  ok, failed, dead, retrying = RealisticLoad.expected(JOBS)
  want = { "bench:counts" => "#{ok} #{failed}", "dead" => dead, "retry" => retrying, "bench:deaths" => dead.to_s }
  got = nil
  wait_until("#{label} check", pid, now + 15) do
    got = redis.with do |conn|
      { "bench:counts" => conn.get("bench:counts"), "dead" => conn.zcard("dead"), "retry" => conn.zcard("retry"),
        "bench:deaths" => conn.get("bench:deaths") }
    end
    got == want
  end
  server = redis.with { |conn| conn.get("bench:server") }
  expected_server = name == "Ferrokiq" ? / ferrokiq\z/ : /\A6\.4\.1 sidekiq\z/
  raise "#{label}: ran on #{server.inspect}" unless server&.match?(expected_server)
rescue RuntimeError => e
  raise "#{e.message}: want #{want}, got #{got}"
end

def summarize_logs(label, logs)
  lines = logs.to_h { |kind, path| [kind, File.exist?(path) ? File.foreach(path).count : 0] }
  warn "  #{label}: #{JOBS} jobs checked; log lines: stdout #{lines[:stdout]}, app log #{lines[:app]}, " \
       "stderr #{lines[:stderr]}"
end

def rss_mb(pid)
  File.read("/proc/#{pid}/status")[/^VmRSS:\s+(\d+)/, 1].to_i / 1024.0
end

# The app's own work alone, on the same payloads as a drain (bench/realistic_ceiling.rb): jobs/s.
def ceiling(url)
  fill_queue(url)
  env = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s, "LOG_DIR" => LOG_DIR }
  Bench.run_json(env, RbConfig.ruby, "-I", File.join(ROOT, "lib"), CEILING).fetch("rate")
end

# Per concurrency: the ceiling's rate, how far above Sidekiq's drain it is, and the share of it
# Ferrokiq's drain reached (medians of the pairs' own values, then each pair's).
def report_ceiling(runs, ceilings)
  puts "\nThe jobs' own work with no server (bench/realistic_ceiling.rb, before each pair's drains):"
  puts format("%<row>-22s %<rate>12s %<over>14s %<share>14s  %<pairs>s", row: "", rate: "jobs/s", over: "/ Sidekiq",
                                                                         share: "Ferrokiq's", pairs: "per pair")
  CONCURRENCIES.each do |concurrency|
    alone = ceilings.map { |rates| rates.fetch(concurrency) }
    puts ceiling_row(concurrency, alone, *runs.values_at(*SIDES).map { |results| drain_rates(results, concurrency) })
  end
end

def drain_rates(results, concurrency)
  results.map { |result| result.fetch("drain -c #{concurrency} (jobs/s)") }
end

def ceiling_row(concurrency, alone, ours, theirs)
  over = alone.zip(theirs).map { |a, b| a / b }
  share = ours.zip(alone).map { |a, b| a / b }
  pairs = over.zip(share).map { |o, f| format("%<over>.2fx %<share>.0f%%", over: o, share: f * 100) }
  format("%<row>-22s %<rate>12.0f %<over>13.2fx %<share>13.0f%%  %<pairs>s",
         row: "ceiling -c #{concurrency}", rate: Bench.median(alone), over: Bench.median(over),
         share: Bench.median(share) * 100, pairs: pairs.join(", "))
end

# A side's push worker (bench/realistic_push.rb), alive for the block: the block gets a lambda
# that runs one round of a scenario and returns its jobs/s, and the worker's scenario names.
def with_push_worker(name, url)
  env = { "REDIS_URL" => url }
  command, env, dir = if name == "Ferrokiq"
                        [[RbConfig.ruby, "-I", File.join(ROOT, "lib"), PUSH_WORKER], env, Dir.pwd]
                      else
                        [[RbConfig.ruby, PUSH_WORKER], Bench.peer_env(env), Dir.tmpdir]
                      end
  IO.popen(env, command, "r+", chdir: dir) do |worker|
    scenarios = JSON.parse(worker.gets || raise("#{name}'s push worker died")).fetch("scenarios")
    round = lambda do |scenario|
      worker.puts(scenario)
      JSON.parse(worker.gets || raise("#{name}'s push worker died in #{scenario}")).fetch("rate")
    end
    yield round, scenarios
    worker.close_write
  end
  raise "#{name}'s push worker failed" unless $CHILD_STATUS.success?
end

# One pair's push rows, in lockstep: one worker per side, both alive, the rounds of each scenario
# alternating between them (ours, theirs, theirs, ours, ...), each side's row the median of its
# PUSH_ROUNDS rounds in each of PUSH_PROCESSES worker pairs. This host's speed swings by up to
# half within seconds, so rounds of the two sides a process apart measured two different hosts;
# rounds a fraction of a second apart see the same one.
def pushes(url)
  rates = SIDES.to_h { |name| [name, Hash.new { |row, scenario| row[scenario] = [] }] }
  PUSH_PROCESSES.times do
    with_push_worker(SIDES.first, url) do |ours, scenarios|
      with_push_worker(SIDES.last, url) do |theirs, _|
        PUSH_ROUNDS.times do |index|
          turns = [[SIDES.first, ours], [SIDES.last, theirs]]
          turns.reverse! if index.odd?
          scenarios.each { |scenario| turns.each { |name, round| rates[name][scenario] << round.call(scenario) } }
        end
      end
    end
  end
  rates.transform_values { |rows| rows.transform_values { |values| Bench.median(values) } }
end

begin
  runs = SIDES.to_h { |name| [name, Array.new(PAIRS) { {} }] }
  ceilings = Array.new(PAIRS) { {} }
  Bench.with_redis do |url|
    PAIRS.times do |pair|
      pushes(url).each do |name, result|
        runs[name][pair].merge!(result)
        warn "pair #{pair + 1}/#{PAIRS} #{name}: #{result.transform_values(&:round)}"
      end
      CONCURRENCIES.each do |concurrency|
        ceilings[pair][concurrency] = ceiling(url)
        warn "pair #{pair + 1}/#{PAIRS} ceiling before -c #{concurrency}: #{ceilings[pair][concurrency].round} jobs/s"
        SIDES.each do |name|
          result = drain(name, concurrency, url)
          runs[name][pair].merge!(result)
          shown = result.transform_values { |v| v.is_a?(Array) ? v.map(&:round) : v.round }
          warn "pair #{pair + 1}/#{PAIRS} #{name}: #{shown}"
        end
      end
    end
  end

  rss = runs.transform_values { |results| results.map { |r| r.reject { |_, v| v.is_a?(Array) } } }
  puts "\nRealistic app (bench/realistic_app.rb): #{JOBS} jobs per drain, INFO logging to stdout (a file) " \
       "and a JSON log file, 3 server + 1 client middleware, 1% failing; reliable fetch (Ferrokiq)"
  Bench.report(rss, unit: "", baseline: "Sidekiq 6.4.1", candidate: "Ferrokiq")
  puts "\nRSS when draining starts / after the drain (MB, median over pairs):"
  runs["Ferrokiq"].first.each_key do |key|
    next unless runs["Ferrokiq"].first[key].is_a?(Array)

    shown = SIDES.map do |name|
      values = runs[name].map { |r| r[key] }
      format("%s %.0f / %.0f", name, Bench.median(values.map(&:first)), Bench.median(values.map(&:last)))
    end
    puts format("  %-30s %s", key.sub("RSS start/after ", ""), shown.join(", "))
  end
  report_ceiling(runs, ceilings) unless CONCURRENCIES.empty?
ensure
  if ENV["KEEP_LOGS"]
    warn "logs kept in #{LOG_DIR}"
  else
    FileUtils.rm_rf(LOG_DIR)
  end
end
