# frozen_string_literal: true

# One side of bench/push.rb: loads whichever `sidekiq` is on the load path (Ferrokiq with
# -Ilib, Debian's Sidekiq 6.4.1 without) and measures pushes against $REDIS_URL.
# Prints one JSON line of jobs/s per scenario.

require "sidekiq"
require "json"
require_relative "push_rate"

if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
  Redis.silence_deprecations = true
  Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
end
Sidekiq.logger.level = Logger::WARN

# The job pushed by every scenario; never run.
class BenchJob
  include Sidekiq::Worker

  def perform(*); end
end

ARGS = ["string", 1, { "mike" => "bob" }].freeze

single = Integer(ENV.fetch("PUSH_SINGLE", 5_000))
threaded = Integer(ENV.fetch("PUSH_THREADED", 10_000))
bulk = Integer(ENV.fetch("PUSH_BULK", 100_000))

# Warm up connections and code paths.
200.times { BenchJob.perform_async(*ARGS) }

results = {
  "perform_async, 1 thread" => rate(single) { single.times { BenchJob.perform_async(*ARGS) } },
  "perform_async, 10 threads" => rate(threaded) do
    Array.new(10) { Thread.new { (threaded / 10).times { BenchJob.perform_async(*ARGS) } } }.each(&:join)
  end,
  "push_bulk, 1,000 per call" => rate(bulk) do
    (bulk / 1000).times { Sidekiq::Client.push_bulk("class" => BenchJob, "args" => Array.new(1000, ARGS)) }
  end
}
Sidekiq.redis { |conn| conn.flushdb }
puts JSON.generate(results)
