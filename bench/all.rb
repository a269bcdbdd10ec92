# frozen_string_literal: true

# Every benchmark in one command: push rates, then drains across concurrency, size, logging,
# fetch strategy and Redis distance, then a realistic app (bench/realistic.rb), then latency and
# memory, the Web UI on large sets (bench/web.rb), the metrics endpoint's cost, iterable jobs and
# periodic jobs at scale. Each line of the matrix is a separate bench/drain.rb run (alternating
# Ferrokiq and Sidekiq 6.4.1, PAIRS pairs).
#
#   rake compile && ruby bench/all.rb            # about 20 minutes on 2 cores
#   QUICK=1 ruby bench/all.rb                    # 20k jobs, 1 pair: checks the set-up

require "rbconfig"

QUICK = ENV.key?("QUICK")
PAIRS = ENV.fetch("PAIRS", QUICK ? "1" : "3")
SMALL = QUICK ? "20000" : "100000"
LARGE = QUICK ? "40000" : "500000"

MATRIX = [
  ["drain, -c 10, WARN", { "BENCH_JOBS" => SMALL }],
  ["drain, -c 10, INFO", { "BENCH_JOBS" => SMALL, "BENCH_LOG_LEVEL" => "INFO" }],
  ["drain, -c 1, WARN", { "BENCH_JOBS" => SMALL, "CONCURRENCY" => "1" }],
  ["drain, -c 25, WARN", { "BENCH_JOBS" => SMALL, "CONCURRENCY" => "25" }],
  ["drain, -c 10, WARN, basic fetch", { "BENCH_JOBS" => SMALL, "FETCH" => "basic" }],
  ["drain, -c 10, WARN, #{LARGE} jobs", { "BENCH_JOBS" => LARGE }],
  ["drain, -c 10, WARN, Redis 1 ms away", { "BENCH_JOBS" => SMALL, "REDIS_RTT_US" => "1000" }],
  ["drain, -c 10, WARN, Active Job (Rails 6.1)", { "BENCH_JOBS" => SMALL, "BENCH_ACTIVE_JOB" => "1" }]
].freeze

def run(title, script, env)
  puts "\n=== #{title}"
  $stdout.flush
  ok = system({ "PAIRS" => PAIRS }.merge(env), RbConfig.ruby, File.join(__dir__, script), err: File::NULL)
  warn "#{title}: failed" unless ok
end

run("push", "push.rb", QUICK ? { "PUSH_SINGLE" => "1000", "PUSH_THREADED" => "2000", "PUSH_BULK" => "20000" } : {})
MATRIX.each { |title, env| run(title, "drain.rb", env.merge("PROBES" => "0")) }
run("realistic app (middleware, loggers, job bodies), -c 1 / 10 / 25", "realistic.rb",
    QUICK ? { "BENCH_JOBS" => "5000", "PUSH_SINGLE" => "1000" } : {})
run("latency (pickup, scheduled) and memory", "drain.rb", { "PAIRS" => "0", "PROBES" => QUICK ? "20" : "200" })
run("Web UI: pages and bulk actions on large sets, against Sidekiq 6.4.1's UI", "web.rb",
    QUICK ? { "SIZE" => "5000", "PROCESSES" => "10", "REQUESTS" => "5" } : {})
run("metrics endpoint on against off", "metrics_cost.rb", QUICK ? { "BENCH_JOBS" => "20000", "PAIRS" => "1" } : {})
run("iterable job: an empty each_iteration against a plain loop", "iteration.rb", QUICK ? { "ITEMS" => "100000" } : {})
run("periodic jobs: 10,000 schedules in a cluster of three", "periodic_scale.rb",
    QUICK ? { "SCHEDULES" => "1000", "DURATION" => "20" } : {})
