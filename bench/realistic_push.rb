# frozen_string_literal: true

# One side of bench/realistic.rb's push rows: loads whichever `sidekiq` is on the load path
# (Ferrokiq with -Ilib, Debian's Sidekiq 6.4.1 without) and the app of bench/realistic_app.rb,
# whose client middleware stamps a request id on every job, then measures pushes against
# $REDIS_URL. Prints one JSON line of jobs/s per scenario: the median of PUSH_ROUNDS runs.

require "sidekiq"
require "json"
require_relative "push_rate"
require_relative "realistic_app"

Sidekiq.logger.level = Logger::WARN

single = Integer(ENV.fetch("PUSH_SINGLE", 5_000))
bulk = Integer(ENV.fetch("PUSH_BULK", 10_000))
rounds = Integer(ENV.fetch("PUSH_ROUNDS", 3))
order = RealisticLoad.order(1)
slices = Array.new(bulk / 1000) { |s| Array.new(1000) { |i| [(s * 1000) + i, order] } }

# Warm up connections and code paths.
200.times { |i| ReceiptJob.perform_async(i, order) }
Sidekiq::Client.push_bulk("class" => ReceiptJob, "args" => slices.first)

results = {
  "perform_async, 1 thread, mw" => median_rate(single, rounds) do
    single.times { |i| ReceiptJob.perform_async(i, order) }
  end,
  "push_bulk #{bulk / 1000}k, 1,000/call, mw" => median_rate(bulk, rounds) do
    slices.each { |args| Sidekiq::Client.push_bulk("class" => ReceiptJob, "args" => args) }
  end
}
stamped = Sidekiq.redis { |conn| conn.lrange("queue:default", 0, 0) }.map { |job| JSON.parse(job) }
raise "the client middleware did not run: #{stamped.inspect}" unless stamped.first&.key?("request_id")

Sidekiq.redis { |conn| conn.flushdb }
puts JSON.generate(results)
