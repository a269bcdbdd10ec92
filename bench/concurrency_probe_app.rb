# frozen_string_literal: true

# bench/realistic_app.rb plus a server middleware that counts how many jobs run at once and how
# often the next job runs on another thread than the one before; the figures are logged (WARN,
# so any log level shows them) when the server goes quiet. For the worker-thread admission
# (docs/design.md, §3.1):
#
#   APP_FILE=bench/concurrency_probe_app.rb CONCURRENCIES=1,10,25 ruby bench/realistic_profile.rb
#   grep -h "jobs at once" <OUT>/ferrokiq-c*.stdout.log

require_relative "realistic_app"

# Counts under a Mutex: the figures must be exact, and the lock is held for a few increments.
class ConcurrencyProbe
  include Sidekiq::ServerMiddleware

  LOCK = Mutex.new

  class << self
    attr_reader :running, :sum, :jobs, :most, :thread_changes

    def reset
      @running = @sum = @jobs = @most = @thread_changes = 0
      @last_thread = nil
    end

    def started
      LOCK.synchronize do
        @running += 1
        @sum += @running
        @jobs += 1
        @most = @running if @running > @most
        @thread_changes += 1 unless @last_thread.equal?(Thread.current)
        @last_thread = Thread.current
      end
    end

    def ended
      LOCK.synchronize { @running -= 1 }
    end

    def summary
      average = jobs.zero? ? 0.0 : sum.to_f / jobs
      format("%<jobs>d jobs: %<average>.2f jobs at once on average, %<most>d at most; " \
             "%<changes>d changes of thread", jobs:, average:, most:, changes: thread_changes)
    end
  end
  reset

  def call(_job, _payload, _queue)
    self.class.started
    yield
  ensure
    self.class.ended
  end
end

Sidekiq.configure_server do |config|
  config.server_middleware { |chain| chain.add ConcurrencyProbe }
  config.on(:quiet) { Sidekiq.logger.warn(ConcurrencyProbe.summary) }
end
