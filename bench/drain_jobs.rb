# frozen_string_literal: true

# Job code for bench/drain.rb, loaded by both servers (Ferrokiq's and Sidekiq 6.4.1's):
# the sidekiqload shape, a counter under a Mutex, and a marker in Redis when all ran.

if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
  Redis.silence_deprecations = true
  Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
end
Sidekiq.logger.level = ENV.fetch("BENCH_LOG_LEVEL", "WARN")

# Counts runs; the last one records the wall-clock time it finished.
class LoadJob
  include Sidekiq::Worker
  sidekiq_options retry: 1

  TOTAL = Integer(ENV.fetch("BENCH_JOBS"))
  # Rounds of small Ruby work per job (a JSON round trip of a small Hash, about 3.5 µs each on
  # the benchmark machine), for costs measured against jobs with a body: BENCH_JOB_WORK=10 gives
  # about 35 µs. 0, the default, is the no-op job.
  WORK = Integer(ENV.fetch("BENCH_JOB_WORK", 0))
  LOCK = Mutex.new
  @count = 0

  class << self
    attr_accessor :count
  end

  def perform(string, index, hash)
    WORK.times { |round| JSON.parse(JSON.generate(hash.merge("round" => round, "s" => "#{string}-#{index}"))) }
    done = LOCK.synchronize { self.class.count += 1 }
    return unless done == TOTAL

    Sidekiq.redis { |conn| conn.set("bench:finished", Process.clock_gettime(Process::CLOCK_REALTIME).to_s) }
  end
end

# Records how late it started relative to the time it was scheduled for.
class LatenessJob
  include Sidekiq::Worker

  def perform(due_at)
    late = Process.clock_gettime(Process::CLOCK_REALTIME) - due_at
    Sidekiq.redis { |conn| conn.rpush("bench:lateness", late.to_s) }
  end
end

# The same job through Active Job (BENCH_ACTIVE_JOB=1): Rails 6.1's Sidekiq adapter wraps it in
# its JobWrapper, as a Rails app's `perform_later` would.
if ENV["BENCH_ACTIVE_JOB"]
  require "active_job"
  ActiveJob::Base.queue_adapter = :sidekiq
  ActiveJob::Base.logger = Logger.new($stdout, level: ENV.fetch("BENCH_LOG_LEVEL", "WARN"))

  # LoadJob's counter, reached through Active Job's serialization and callbacks.
  class LoadActiveJob < ActiveJob::Base
    def perform(string, index, hash)
      LoadJob.new.perform(string, index, hash)
    end
  end
end

# A client middleware that only passes jobs on (BENCH_CLIENT_MIDDLEWARE=1), as an APM or
# request-id middleware would be configured in most applications: the server must then re-push
# due scheduled jobs through it.
if ENV["BENCH_CLIENT_MIDDLEWARE"]
  # Does nothing but yield.
  class PassThroughClientMiddleware
    def call(_job_class, _job, _queue, _pool)
      yield
    end
  end

  Sidekiq.configure_server do |config|
    config.client_middleware { |chain| chain.add(PassThroughClientMiddleware) }
  end
end
