# frozen_string_literal: true

# Runs Ferrokiq's server (exe/sidekiq) over the demo's jobs with a live progress line, shows
# what failed went to the retry set, and stops the server with TERM.

require "sidekiq"
require "sidekiq/api"
require "rbconfig"
require "tmpdir"

ROOT = File.expand_path("../..", __dir__)

# Read through Sidekiq's Data API, as a dashboard would.
def counts
  stats = Sidekiq::Stats.new
  { enqueued: stats.enqueued, processed: stats.processed, failed: stats.failed,
    retrying: stats.retry_size, scheduled: stats.scheduled_size }
end

def progress(started, initial, counts)
  format("\r  %5.1fs  taken %6d of %6d | enqueued %6d | retrying %2d | scheduled %2d",
         Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, initial - counts[:enqueued], initial,
         counts[:enqueued], counts[:retrying], counts[:scheduled])
end

log = File.join(Dir.tmpdir, "ferrokiq-demo-server.log")
puts "\n\e[1mProcessing with Ferrokiq's server\e[0m (bundle exec sidekiq -r jobs.rb -c 10; log: #{log})"
server = Process.spawn(RbConfig.ruby, File.join(ROOT, "exe", "sidekiq"), "-r", File.join(__dir__, "jobs.rb"),
                       "-c", "10", "-q", "critical,3", "-q", "mailers,2", "-q", "default", "-q", "low",
                       out: log, err: log)
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
deadline = started + 60
initial = counts[:enqueued]
loop do
  now = counts
  print progress(started, initial, now)
  break if now[:enqueued].zero? && now[:retrying] >= 2
  break if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

  sleep 0.25
end
drained = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started

puts "\n\n  Queues drained in #{drained.round(2)}s. Sending TERM..."
Process.kill("TERM", server)
Process.wait(server)
final = counts
puts "  Server stopped (stats flushed): processed #{final[:processed]}, failed #{final[:failed]}."
puts "  Last lines of its log:"
File.readlines(log).last(3).each { |line| puts "    #{line}" }

puts "\n\e[1mThe retry set\e[0m (Sidekiq::RetrySet, what a Sidekiq Web UI shows under Retries):"
Sidekiq::RetrySet.new.each do |entry|
  puts format("  %-16s %-28s retry_count=%d  next try at %s", entry.display_class, entry.display_args.inspect,
              entry["retry_count"], entry.at.utc.strftime("%H:%M:%S UTC"))
  puts "    #{entry["error_class"]}: #{entry["error_message"]}"
end
puts "\nScheduled jobs stay in the schedule set until they are due: #{final[:scheduled]} waiting."
