# frozen_string_literal: true

# Enqueues a realistic mix of jobs with Ferrokiq and shows what landed in Redis.
# Run through bin/demo, which builds Ferrokiq, provides a Redis and names this run's queues.

require "sidekiq"
require "sidekiq/api"
require_relative "jobs"

def timed(label)
  started = Demo.now
  result = yield
  puts format("  %<label>-56s %<ms>8.1f ms", label:, ms: (Demo.now - started) * 1000)
  result
end

Sidekiq.configure_client do |config|
  config.redis = { url: ENV.fetch("REDIS_URL"), size: 5 }
end

puts "Ferrokiq #{Ferrokiq::VERSION} (Sidekiq #{Sidekiq::VERSION} API), Redis at #{Sidekiq.redis_pool.url}"
others = Sidekiq.redis { |conn| conn.call("DBSIZE") }
if others.positive?
  puts "This run's queues are named #{Demo::PREFIX}-*; the #{others} #{others == 1 ? "key" : "keys"} already " \
       "in this database stay as they are."
end

Demo.heading "Enqueueing"
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
  ReminderJob.set(queue: Demo.queue("low"), wait_until: Time.now + 86_400).perform_async(7, "see you tomorrow")
end
threads = Array.new(4) do |t|
  Thread.new { 250.times { |i| WelcomeMailerJob.perform_async((t * 1000) + i, "de") } }
end
timed("1,000 more mails from 4 threads at once") { threads.each(&:join) }

Demo.heading "What is in Redis now (this run's part)"
width = Demo.queues.map(&:size).max + 6
Demo.queues.each do |name|
  queue = Sidekiq::Queue.new(name)
  puts "  #{"queue:#{name}".ljust(width)} #{queue.size.to_s.rjust(6)} jobs" if queue.size.positive?
end
scheduled = Demo.entries(Sidekiq::ScheduledSet.new)
puts "  #{"schedule".ljust(width)} #{scheduled.size.to_s.rjust(6)} jobs"

newest_charge = Sidekiq.redis { |conn| conn.call("LINDEX", "queue:#{Demo.queue("critical")}", 0) }
puts "\n  The newest job on queue:#{Demo.queue("critical")}, exactly as stored (Sidekiq's format):"
puts "  #{newest_charge}"
next_due = scheduled.min_by(&:score)
puts "\n  The next scheduled job, due #{next_due.at.utc} (the time lives only in the score):"
puts "  #{next_due.value}"
puts "\nA Sidekiq 7 (or 6.4) server listening to these queues could now run these jobs; " \
     "next, Ferrokiq's own server will."
