# frozen_string_literal: true

# Where a realistic job's time goes: drains the app of bench/realistic_app.rb on one server
# (Ferrokiq's, or Debian's Sidekiq 6.4.1 with SIDE=sidekiq) at each of CONCURRENCIES, ROUNDS
# times in turn (-c 1, -c 10, ..., -c 1, -c 10, ...), and prints per drain the rate, the
# server's CPU time per job (user and system, from /proc), and the context switches per job of
# all its threads (voluntary: a thread slept, on the GVL, a lock or a wait for work;
# involuntary: the kernel preempted it). With PERF=1 each drain is also recorded by
# `perf record -g` (PERF_ARGS to change the options; `--call-graph dwarf` names the C
# functions under Ruby's frames). Logs and recordings are kept in OUT (printed). Ruby-level
# samplers are no help here: on Ruby 3.1 stackprof samples only the main thread. APP_FILE
# replaces the file the server loads (for experiments: one that requires
# bench/realistic_app.rb and changes something).
#
#   ruby bench/realistic_profile.rb                              # Ferrokiq, 20k jobs, -c 1,10,25
#   SIDE=sidekiq CONCURRENCIES=10 ruby bench/realistic_profile.rb
#   PERF=1 CONCURRENCIES=10 ruby bench/realistic_profile.rb && perf report -i <OUT>/ferrokiq-c10.perf
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "etc"
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
ROUNDS = Integer(ENV.fetch("ROUNDS", 1))
SIDE = ENV.fetch("SIDE", "ferrokiq")
OUT = ENV.fetch("OUT") { Dir.mktmpdir("ferrokiq-profile") }.tap { |dir| FileUtils.mkdir_p(dir) }
JOB_FILE = File.expand_path(ENV.fetch("APP_FILE", File.join(__dir__, "realistic_app.rb")))

def now
  Process.clock_gettime(Process::CLOCK_REALTIME)
end

# [user, system] CPU seconds the process has used so far (all its threads).
def cpu_seconds(pid)
  fields = File.read("/proc/#{pid}/stat").split(") ").last.split
  [fields[11], fields[12]].map { |ticks| Integer(ticks) / Float(Etc.sysconf(Etc::SC_CLK_TCK)) }
end

# [voluntary, involuntary] context switches of all the process's threads so far.
def switches(pid)
  Dir.glob("/proc/#{pid}/task/*/status").map do |path|
    status = File.read(path)
    [status[/^voluntary_ctxt_switches:\s+(\d+)/, 1].to_i, status[/^nonvoluntary_ctxt_switches:\s+(\d+)/, 1].to_i]
  rescue Errno::ENOENT # a thread that just ended
    [0, 0]
  end.transpose.map(&:sum)
end

def server_command(concurrency)
  sidekiq = SIDE == "sidekiq" ? "/usr/bin/sidekiq" : File.join(ROOT, "exe", "sidekiq")
  [RbConfig.ruby, sidekiq, "-r", JOB_FILE, "-c", concurrency]
end

def server_env(url, label)
  env = { "REDIS_URL" => url, "BENCH_JOBS" => JOBS.to_s, "APP_LOG" => File.join(OUT, "#{label}.app.log") }
  SIDE == "sidekiq" ? Bench.peer_env(env) : env
end

def perf(pid, label)
  return unless ENV["PERF"]

  args = ENV.fetch("PERF_ARGS", "-g -F 999").split
  Process.spawn("perf", "record", *args, "-p", pid.to_s, "-o", File.join(OUT, "#{label}.perf"),
                out: File::NULL, err: File::NULL)
end

def running!(pid)
  raise "the server exited: see #{OUT}" if Process.waitpid(pid, Process::WNOHANG)

  true
end

def stop(pid)
  Process.kill("INT", pid) # perf writes its file on INT; both servers stop on it too
  Process.wait(pid)
end

def start_server(url, label, concurrency)
  logs = { out: File.join(OUT, "#{label}.stdout.log"), err: File.join(OUT, "#{label}.stderr.log") }
  Process.spawn(server_env(url, label), *server_command(concurrency), chdir: Dir.tmpdir, **logs)
end

# What the server used between two readings: CPU microseconds per job [user, system] and
# context switches per job [voluntary, involuntary].
def usage(pid)
  cpu = cpu_seconds(pid)
  ctx = switches(pid)
  yield
  [cpu_seconds(pid).zip(cpu).map { |after, before| (after - before) * 1e6 / JOBS },
   switches(pid).zip(ctx).map { |after, before| (after - before).fdiv(JOBS) }]
end

def drain(url, concurrency)
  redis = Sidekiq::RedisConnection.create(url:)
  redis.with(&:flushdb)
  RealisticLoad.push(JOBS, client: Sidekiq::Client.new(pool: redis))
  label = "#{SIDE}-c#{concurrency}"
  pid = start_server(url, label, concurrency)
  sleep 0.001 until started ||= (now if running!(pid) && redis.with { |conn| conn.llen("queue:default") } < JOBS)
  recorder = perf(pid, label)
  finished = nil
  cpu, ctx = usage(pid) do
    sleep 0.005 until running!(pid) && (finished = redis.with do |conn|
                                          conn.get("bench:finished")
                                        end)
  end
  stop(recorder) if recorder
  stop(pid)
  report(label, Float(finished) - started, cpu, ctx)
end

def report(label, seconds, cpu, ctx)
  puts format("%-14s %8.0f jobs/s %7.1f us/job wall  CPU %6.1f us/job (user %5.1f, sys %5.1f)  " \
              "switches/job: voluntary %5.2f, involuntary %5.2f",
              label, JOBS / seconds, seconds * 1e6 / JOBS, cpu.sum, *cpu, *ctx)
end

Bench.with_redis do |url|
  ROUNDS.times { CONCURRENCIES.each { |concurrency| drain(url, concurrency) } }
end
warn "files in #{OUT}"
