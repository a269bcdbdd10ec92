# frozen_string_literal: true

# Shared by the push workers (bench/push_worker.rb, bench/realistic_push.rb), which run under
# either Sidekiq: jobs per second of the block, which pushes +count+ jobs into an empty Redis.
def rate(count)
  Sidekiq.redis { |conn| conn.flushdb }
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  yield
  count / (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
end
