# frozen_string_literal: true

# Runs Ferrokiq's server (exe/sidekiq) over the demo's jobs with a live progress line, shows
# what failed went to the retry set, and stops the server with TERM.

require "sidekiq"
require "rbconfig"
require "tmpdir"

ROOT = File.expand_path("../..", __dir__)

def counts
  Sidekiq.redis do |conn|
    queues = conn.smembers("queues")
    enqueued = queues.sum { |queue| conn.llen("queue:#{queue}") }
    { enqueued: enqueued, processed: conn.get("stat:processed").to_i, failed: conn.get("stat:failed").to_i,
      retrying: conn.zcard("retry"), scheduled: conn.zcard("schedule") }
  end
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

puts "\n\e[1mThe retry set\e[0m (what a Sidekiq Web UI shows under Retries):"
Sidekiq.redis { |conn| conn.zrange("retry", 0, -1, "WITHSCORES") }.each do |json, score|
  job = JSON.parse(json)
  puts format("  %-16s %-28s retry_count=%d  next try at %s", job["class"], job["args"].inspect,
              job["retry_count"], Time.at(score).utc.strftime("%H:%M:%S UTC"))
  puts "    #{job["error_class"]}: #{job["error_message"]}"
end
puts "\nScheduled jobs stay in the schedule set until they are due: #{final[:scheduled]} waiting."
