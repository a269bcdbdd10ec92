# frozen_string_literal: true

# Enqueues a realistic mix of jobs with Ferrokiq and shows what landed in Redis.
# Run through bin/demo, which builds Ferrokiq and provides a Redis.

require "sidekiq"
require_relative "jobs"

def section(title)
  puts "\n\e[1m#{title}\e[0m"
end

def timed(label)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  result = yield
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  puts format("  %-52s %8.1f ms", label, elapsed * 1000)
  result
end

Sidekiq.configure_client do |config|
  config.redis = { url: ENV.fetch("REDIS_URL"), size: 5 }
end

Sidekiq.redis(&:flushdb) if ENV["FERROKIQ_DEMO_OWN_REDIS"]
puts "Ferrokiq #{Ferrokiq::VERSION} (Sidekiq #{Sidekiq::VERSION} API), Redis at #{Sidekiq.redis_pool.url}"

section "Enqueueing"
timed("200 welcome mails (perform_async, queue mailers)") do
  200.times { |i| WelcomeMailerJob.perform_async(1000 + i, i.even? ? "en" : "fr") }
end
timed("50 card charges (perform_async, queue critical)") do
  50.times { |i| ChargeCardJob.perform_async("ord_#{i}", 1999 + i, "EUR") }
end
timed("5,000 reindex jobs (perform_bulk, 1,000 per round trip)") do
  ReindexJob.perform_bulk((1..5000).map { |id| ["Product", id] })
end
timed("20 reminders in 1-20 minutes (perform_in)") do
  20.times { |i| ReminderJob.perform_in((i + 1) * 60, 42 + i, "your cart misses you") }
end
timed("2 charges through a gateway that is down") do
  2.times { |i| FlakyGatewayJob.perform_async("ord_flaky_#{i}") }
end
timed("1 reminder tomorrow (set(wait_until:), queue low)") do
  ReminderJob.set(queue: "low", wait_until: Time.now + 86_400).perform_async(7, "see you tomorrow")
end
threads = 4.times.map do |t|
  Thread.new { 250.times { |i| WelcomeMailerJob.perform_async(t * 1000 + i, "de") } }
end
timed("1,000 more mails from 4 threads at once") { threads.each(&:join) }

section "What is in Redis now"
Sidekiq.redis do |conn|
  conn.smembers("queues").sort.each do |queue|
    puts format("  queue:%-10s %6d jobs", queue, conn.llen("queue:#{queue}"))
  end
  puts format("  %-16s %6d jobs", "schedule", conn.zcard("schedule"))
  newest_charge = conn.lindex("queue:critical", 0)
  puts "\n  The newest job on queue:critical, exactly as stored (Sidekiq's format):"
  puts "  #{newest_charge}"
  job, score = conn.zrange("schedule", 0, 0, "WITHSCORES").first
  puts "\n  The next scheduled job, due #{Time.at(score).utc} (the time lives only in the score):"
  puts "  #{job}"
end
puts "\nA Sidekiq 7 (or 6.4) server on this Redis could now run these jobs; next, Ferrokiq's own server will."
