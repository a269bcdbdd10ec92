# frozen_string_literal: true

# The app's share of a job of bench/realistic_app.rb, timed piece by piece in one thread with no
# server around it (CPU time per job and the GC time inside it): JSON.parse of the payloads (and
# Ferrokiq's own reader of them), the job bodies, the app's log lines, its three server middleware
# with and without their lines. Run it on either side against $REDIS_URL (it pushes 2,000 jobs
# there and flushes the database first); bench/realistic_profile.rb gives the whole server's
# figures to set it against.
#
#   REDIS_URL=redis://127.0.0.1:6379/15 ruby -Ilib bench/realistic_parts.rb           # Ferrokiq
#   cd /tmp && REDIS_URL=... PEER=1 ruby /path/to/bench/realistic_parts.rb            # Sidekiq 6.4.1
#
# Benchmarks are measurements, not tests.

require "sidekiq"
require "json"
require "tmpdir"
require_relative "realistic_app"

N = Integer(ENV.fetch("N", 20_000))

def time(label, &block)
  GC.start
  gc_before = GC.stat(:time)
  started = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  N.times(&block)
  cpu = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - started
  puts format("%<label>-52s %<cpu>7.2f us/job (GC %<gc>5.2f)",
              label:, cpu: cpu * 1e6 / N, gc: (GC.stat(:time) - gc_before) * 1e3 / N)
end

def middleware_chain(job)
  BenchCounter.new.call(nil, job, "default") do
    RequestContext.new.call(nil, job, "default") { JobLogging.new.call(nil, job, "default") { nil } }
  end
end

redis = Sidekiq::RedisConnection.create(url: ENV.fetch("REDIS_URL"))
redis.with(&:flushdb)
RealisticLoad.push(2000, client: ENV["PEER"] ? Sidekiq::Client.new(redis) : Sidekiq::Client.new(pool: redis))
payloads = redis.with { |conn| conn.lrange("queue:default", 0, -1) }
jobs = payloads.map { |payload| JSON.parse(payload) }
succeeding = jobs.reject { |job| job["args"][1]["fail"] }
Sidekiq.logger = Sidekiq::Logger.new(File.open(File::NULL, "w"), level: Logger::INFO)
# A real file: Logger writes nothing at all to File::NULL.
json_log = Sidekiq::Logger.new(ENV.fetch("APP_LOG") { File.join(Dir.tmpdir, "realistic_parts.#{Process.pid}.log") })
json_log.formatter = Sidekiq::Logger::Formatters::JSON.new
BenchCounter.send(:remove_const, :TOTAL)
BenchCounter.const_set(:TOTAL, -1) # never "the last job"

time("JSON.parse of the payload") { |i| Sidekiq.load_json(payloads[i % payloads.size]) }
unless ENV["PEER"] # what Ferrokiq's processor uses instead (docs/performance.md, §3.2)
  time("Ferrokiq::Native.load_job of the payload") { |i| Ferrokiq::Native.load_job(payloads[i % payloads.size]) }
end
time("job bodies (the mix, failing ones left out)") do |i|
  job = succeeding[i % succeeding.size]
  Object.const_get(job["class"]).new.perform(*job["args"])
end
time("Sidekiq::Context.with") { Sidekiq::Context.with(request_id: "r") { nil } }
Thread.current[:sidekiq_context] = { class: "ReceiptJob", jid: "0123456789abcdef01234567" }
time("one Sidekiq.logger line (Pretty, to /dev/null)") { Sidekiq.logger.info("performing ReceiptJob jid=x") }
time("one JSON log line (to APP_LOG)") { json_log.info("performed class=ReceiptJob jid=x request_id=r ms=0.1") }
Thread.current[:sidekiq_context] = nil
App.job_log = json_log
time("app middleware x3, empty job, with its 3 lines") { |i| middleware_chain(jobs[i % jobs.size].dup) }
App.job_log = nil
Sidekiq.logger.level = Logger::WARN
time("app middleware x3, empty job, no lines") { |i| middleware_chain(jobs[i % jobs.size].dup) }
