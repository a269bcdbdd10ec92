# frozen_string_literal: true

# The realistic app's own work with no server around it: what bench/realistic.rb's drains
# could reach if a server cost nothing. One thread reads each payload into its Hash
# (Ferrokiq::Native.load_job), runs the app's three server middleware and the job's #perform
# (a failing job's error is rescued, nothing more), and the app's log lines go to files through
# Ferrokiq's native writer, as in Ferrokiq's server. Nothing else a server does is here: no
# fetch, no acknowledgement, no job lines, no retry handling, no busy records.
#
# Ruby runs one thread at a time, so for jobs that never block this is also the ceiling at any
# concurrency. bench/realistic.rb runs it next to each pair's drains and sets both servers'
# rates against it.
#
#   REDIS_URL=redis://127.0.0.1:6379/15 LOG_DIR=/tmp ruby -Ilib bench/realistic_ceiling.rb
#
# Takes the BENCH_JOBS jobs the caller pushed to queue:default of $REDIS_URL (as for a drain),
# runs them, and prints {"rate": jobs per second} after checking that every job ran and logged
# its lines. Benchmarks are measurements, not tests.

require "fileutils"
require "json"
require "sidekiq"
require "ferrokiq/native_log"
require_relative "realistic_app"

jobs = Integer(ENV.fetch("BENCH_JOBS", 20_000))
log_dir = ENV.fetch("LOG_DIR")
stdout_log = File.join(log_dir, "ceiling.stdout.log")
app_log = File.join(log_dir, "ceiling.app.log")
[stdout_log, app_log].each { |path| FileUtils.rm_f(path) }

# A server holds the jobs it fetched outside Ruby's heap and makes a payload's String when a
# thread takes the job, so its heap has room for few objects more than its code needs, and minor
# collections come every hundred jobs or so. Had this process made the jobs or held them as
# Strings, its heap would have grown to fit, and the collections would come several times less
# often (measured: 60 and 75 in 20,000 jobs, against 244 in a server's drain). So the jobs are
# read a thousand at a time into one String, and each job slices its own off it.
blob = +""
ends = []
Sidekiq::RedisConnection.create(url: ENV.fetch("REDIS_URL")).with do |conn|
  (0...jobs).step(1000) do |first|
    conn.lrange("queue:default", first, first + 999).each do |payload|
      blob << payload
      ends << blob.bytesize
    end
  end
  conn.flushdb
end
raise "expected #{jobs} jobs in queue:default, found #{ends.size}" unless ends.size == jobs

# The loggers the app's configure_server block would set up, attached as a Ferrokiq server
# attaches them.
Sidekiq.logger = Sidekiq::Logger.new(File.open(stdout_log, "a"), level: Logger::INFO)
App.job_log = Sidekiq::Logger.new(app_log).tap do |logger|
  logger.formatter = Sidekiq::Logger::Formatters::JSON.new
  logger.level = Logger::INFO
end
[Sidekiq.logger, App.job_log].each do |logger|
  Ferrokiq::NativeLog.attach(logger) or raise "the native writer refused #{logger.inspect}"
end
# The counter is the benchmark's, not the app's: it never sees its last job here, and it must not
# mark Redis as a drain's end.
BenchCounter.send(:remove_const, :TOTAL)
BenchCounter.const_set(:TOTAL, -1)

middleware = [BenchCounter.new, RequestContext.new, JobLogging.new].freeze
through = lambda do |job, depth, &perform|
  next perform.call if depth == middleware.size

  middleware[depth].call(nil, job, "default") { through.call(job, depth + 1, &perform) }
end

failed = 0
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
ends.each_with_index do |stop, index|
  start = index.zero? ? 0 : ends[index - 1]
  payload = blob.byteslice(start, stop - start)
  job = Ferrokiq::Native.load_job(payload) || Sidekiq.load_json(payload) # the processor's reading
  through.call(job, 0) { Object.const_get(job["class"]).new.perform(*job["args"]) }
rescue WebhookJob::DeliveryError
  failed += 1
end
elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started

Ferrokiq::NativeLog.detach_all
expected_failures = RealisticLoad.expected(jobs)[1]
raise "#{failed} jobs failed, #{expected_failures} should have" unless failed == expected_failures

# Each job's lines: "performing" and its outcome on standard output, its outcome in the app log
# (after the header Ruby's Logger writes to a file it creates).
{ stdout_log => 2 * jobs, app_log => jobs }.each do |path, want|
  written = File.foreach(path).count { |line| !line.start_with?("# Logfile created") }
  raise "#{path}: #{written} lines, want #{want}" unless written == want
end
puts JSON.generate("rate" => jobs / elapsed)
