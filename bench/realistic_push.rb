# frozen_string_literal: true

# One side of bench/realistic.rb's push rows: loads whichever `sidekiq` is on the load path
# (Ferrokiq with -Ilib, Debian's Sidekiq 6.4.1 without) and the app of bench/realistic_app.rb,
# whose client middleware stamps a request id on every job, then takes orders on standard input
# so that the driver can alternate rounds between the two sides' workers.
#
# Protocol, one JSON line each way: the worker first prints {"scenarios": [names]}; then for each
# line it reads (a scenario's name) it pushes that scenario's jobs into the emptied $REDIS_URL
# once and prints {"rate": jobs per second}. End of input ends it.

require "sidekiq"
require "json"
require_relative "push_rate"
require_relative "realistic_app"

Sidekiq.logger.level = Logger::WARN

single = Integer(ENV.fetch("PUSH_SINGLE", 5_000))
bulk = Integer(ENV.fetch("PUSH_BULK", 10_000))
order = RealisticLoad.order(1)
slices = Array.new(bulk / 1000) { |s| Array.new(1000) { |i| [(s * 1000) + i, order] } }
all_args = slices.flatten(1)

# name => [jobs pushed, the pushes]
scenarios = {
  "perform_async, 1 thread, mw" => [single, -> { single.times { |i| ReceiptJob.perform_async(i, order) } }],
  "push_bulk #{bulk / 1000}k, 1,000/call, mw" => [
    bulk, -> { slices.each { |args| Sidekiq::Client.push_bulk("class" => ReceiptJob, "args" => args) } }
  ],
  # One call, sent in slices of 1,000: Ferrokiq sends each slice ahead of the next one's middleware.
  "push_bulk #{bulk / 1000}k, one call, mw" => [
    bulk, -> { Sidekiq::Client.push_bulk("class" => ReceiptJob, "args" => all_args) }
  ]
}

# Every round is checked, outside its clock: a push that skipped the middleware is no result.
def check_stamped(name)
  newest = Sidekiq.redis { |conn| conn.lrange("queue:default", 0, 0) }.map { |job| JSON.parse(job) }
  raise "#{name}: the client middleware did not run: #{newest.inspect}" unless newest.first&.key?("request_id")
end

# Warm up connections and code paths.
200.times { |i| ReceiptJob.perform_async(i, order) }
Sidekiq::Client.push_bulk("class" => ReceiptJob, "args" => slices.first)

$stdout.sync = true
puts JSON.generate("scenarios" => scenarios.keys)
$stdin.each_line do |line|
  name = line.chomp
  count, pushes = scenarios.fetch(name) { raise ArgumentError, "unknown scenario #{name.inspect}" }
  jobs_per_second = rate(count, &pushes)
  check_stamped(name)
  puts JSON.generate("rate" => jobs_per_second)
end
Sidekiq.redis { |conn| conn.flushdb }
