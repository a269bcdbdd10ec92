# frozen_string_literal: true

require_relative "support"

# Shared by the push workers (bench/push_worker.rb, bench/realistic_push.rb), which run under
# either Sidekiq: jobs per second of the block, which pushes +count+ jobs into an empty Redis.
def rate(count)
  Sidekiq.redis { |conn| conn.flushdb }
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  yield
  count / (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
end

# The median of +rounds+ runs of rate: one slow stretch of the host (they come and go within a
# process) moves a single run of a fast push by a third, the median of several much less.
def median_rate(count, rounds, &pushes)
  raise ArgumentError, "at least one round" if rounds < 1

  Bench.median(Array.new(rounds) { rate(count, &pushes) })
end
