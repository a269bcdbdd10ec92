# frozen_string_literal: true

# Periodic jobs at scale: SCHEDULES entries (default 10,000) in one cluster of PROCESSES Ferrokiq
# servers on a throwaway redis-server, each entry a 6-field cron ticking once a minute at its own
# second (so about SCHEDULES / 60 ticks a second, spread evenly), with `include_metadata` so each
# job carries its tick (`scheduled_at`). Over DURATION seconds it reports:
#
# - push lateness: the job's `enqueued_at` minus its tick (p50, p99, max), the scheduler's own
#   delay; and pickup lateness: when `perform` started minus the tick;
# - exactness: ticks expected in the window against jobs run, duplicates (the same entry and
#   tick twice) and missed ticks;
# - Redis load: commands per second while ticking, against the same cluster idle with no
#   schedule (INFO commandstats), and Redis's CPU time.
#
#   ruby bench/periodic_scale.rb                          # 10,000 schedules, 3 processes, 130 s
#   SCHEDULES=1000 PROCESSES=2 DURATION=70 ruby bench/periodic_scale.rb
#   MIDDLEWARE=1 ruby bench/periodic_scale.rb  # a client middleware: ticks go through Ruby's
#                                             # hand-off (docs/design.md, §5.1)
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "rbconfig"
require "tmpdir"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require "sidekiq-scheduler"
require_relative "support"

ROOT = File.expand_path("..", __dir__)
SCHEDULES = Integer(ENV.fetch("SCHEDULES", 10_000))
PROCESSES = Integer(ENV.fetch("PROCESSES", 3))
DURATION = Float(ENV.fetch("DURATION", 130))
MIDDLEWARE = ENV.fetch("MIDDLEWARE", "") == "1"
IDLE_WINDOW = 20.0
JOB_FILE = File.join(Dir.tmpdir, "ferrokiq-periodic-scale-#{Process.pid}.rb")

# The job records its tick, its enqueued_at and when it started, in one RPUSH.
File.write(JOB_FILE, <<~RUBY)
  # frozen_string_literal: true

  class PeriodicProbe
    include Sidekiq::Job

    def perform(name, meta)
      started = Process.clock_gettime(Process::CLOCK_REALTIME)
      sample = [name, meta["scheduled_at"], @enqueued_at, started].join(" ")
      Sidekiq.redis { |conn| conn.call("RPUSH", "bench:ticks", sample) }
    end
  end

  # enqueued_at is the push time the scheduler wrote.
  class RecordEnqueuedAt
    def call(job_instance, job, _queue)
      job_instance.instance_variable_set(:@enqueued_at, job["enqueued_at"])
      yield
    end
  end

  Sidekiq.configure_server do |config|
    config.server_middleware { |chain| chain.add(RecordEnqueuedAt) }
  end
RUBY
# A client middleware that only passes the job on, as tracing middleware mostly does.
File.write(JOB_FILE, <<~RUBY, mode: "a") if MIDDLEWARE
  class PassThrough
    def call(*) = yield
  end

  Sidekiq.configure_server do |config|
    config.client_middleware { |chain| chain.add(PassThrough) }
  end
RUBY

def now = Process.clock_gettime(Process::CLOCK_REALTIME)

def schedule
  (0...SCHEDULES).to_h do |index|
    ["tick-#{index}", { "cron" => "#{index % 60} * * * * *", "class" => "PeriodicProbe", "queue" => "probes",
                        "args" => ["tick-#{index}"], "include_metadata" => true }]
  end
end

def start_servers(url)
  Array.new(PROCESSES) do
    command = [RbConfig.ruby, File.join(ROOT, "exe", "sidekiq"), "-r", JOB_FILE, "-q", "probes", "-c", "10"]
    Process.spawn({ "REDIS_URL" => url }, *command, chdir: Dir.tmpdir, out: File::NULL, err: File::NULL)
  end
end

def command_stats(redis)
  info = redis.with { |conn| conn.call("INFO", "all") }
  calls = info.scan(/^cmdstat_\S+?:calls=(\d+)/).sum { |(count)| Integer(count) }
  cpu = %w[used_cpu_sys used_cpu_user].sum { |field| Float(info[/^#{field}:([\d.]+)/, 1]) }
  [calls, cpu]
end

# Calls per second and Redis CPU per second over +seconds+.
def load_over(redis, seconds)
  calls_before, cpu_before = command_stats(redis)
  sleep seconds
  calls_after, cpu_after = command_stats(redis)
  [(calls_after - calls_before) / seconds, (cpu_after - cpu_before) / seconds]
end

def percentile(sorted, fraction)
  sorted[[(sorted.size * fraction).ceil - 1, 0].max]
end

def millis(values)
  sorted = values.sort
  format("p50 %<p50>.1f ms, p99 %<p99>.1f ms, max %<max>.1f ms",
         p50: percentile(sorted, 0.5) * 1000, p99: percentile(sorted, 0.99) * 1000, max: sorted.last * 1000)
end

# Entry i ticks at second i % 60 of each minute.
def expected_ticks(window_start, window_end)
  (window_start.ceil...window_end.ceil).sum { |second| (SCHEDULES / 60) + (second % 60 < SCHEDULES % 60 ? 1 : 0) }
end

# [name, tick, pushed, started] of each job whose tick falls in the window.
def samples_in(samples, window_start, window_end)
  samples.map(&:split)
         .map { |name, tick, pushed, started| [name, Float(tick), Float(pushed), Float(started)] }
         .select { |_, tick, _, _| tick >= window_start && tick < window_end }
end

def report(samples, window_start, window_end)
  in_window = samples_in(samples, window_start, window_end)
  expected = expected_ticks(window_start, window_end)
  keys = in_window.map { |name, tick, _, _| [name, tick] }
  puts "ticks in the measured window: #{expected} expected, #{in_window.size} run, " \
       "#{keys.size - keys.uniq.size} duplicates, #{expected - keys.uniq.size} missed"
  puts "push lateness (enqueued_at - tick):  #{millis(in_window.map { |_, tick, pushed, _| pushed - tick })}"
  puts "pickup lateness (perform - tick):    #{millis(in_window.map { |_, tick, _, started| started - tick })}"
end

# Idle load first, then the schedule published and DURATION seconds of ticks.
def measure(url, redis)
  sleep 5 # booted, heartbeating, one of them holding the scheduler lease
  idle = load_over(redis, IDLE_WINDOW)
  Sidekiq.configure_client { |config| config.redis = { url: } }
  Sidekiq.schedule = schedule
  SidekiqScheduler::Scheduler.instance.reload_schedule!
  # Ten seconds for the lease holder to read the schedule; the window starts on a whole second.
  window_start = (now + 10).ceil
  sleep window_start - now
  busy = load_over(redis, DURATION)
  sleep 3 # the last ticks' jobs finish
  [idle, busy, window_start]
end

def report_load((idle_calls, idle_cpu), (busy_calls, busy_cpu))
  puts format("Redis: %<idle>.0f commands/s idle (no schedule), %<busy>.0f commands/s while ticking " \
              "(%<per>.1f per tick, the jobs' own fetch, ack and RPUSH included); Redis CPU %<icpu>.1f%% idle, " \
              "%<bcpu>.1f%% ticking",
              idle: idle_calls, busy: busy_calls, per: (busy_calls - idle_calls) / (SCHEDULES / 60.0),
              icpu: idle_cpu * 100, bcpu: busy_cpu * 100)
end

Bench.with_redis do |url|
  redis = Sidekiq::RedisConnection.create(url:)
  pids = start_servers(url)
  idle, busy, window_start = measure(url, redis)
  samples = redis.with { |conn| conn.call("LRANGE", "bench:ticks", 0, -1) }
  puts "\n#{SCHEDULES} schedules (a 6-field cron each, once a minute), #{PROCESSES} Ferrokiq processes, " \
       "#{DURATION.round} s measured#{", with a client middleware" if MIDDLEWARE}"
  report(samples, window_start, window_start + DURATION)
  report_load(idle, busy)
ensure
  pids&.each do |pid|
    Process.kill("TERM", pid)
    Process.wait(pid)
  end
  File.delete(JOB_FILE) if File.exist?(JOB_FILE)
end
