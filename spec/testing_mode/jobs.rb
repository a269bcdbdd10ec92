# frozen_string_literal: true

# What the jobs below did, in order, in this process.
module JobLog
  def self.entries
    @entries ||= []
  end

  def self.clear
    entries.clear
  end
end

class AddJob
  include Sidekiq::Job

  def perform(left, right)
    JobLog.entries << [:add, left, right]
  end
end

class CriticalJob
  include Sidekiq::Job
  sidekiq_options queue: "critical", retry: 3

  def perform(*args)
    JobLog.entries << [:critical, *args]
  end
end

# Records exactly what perform received, and the jid it ran with.
class EchoJob
  include Sidekiq::Job

  def perform(*args)
    JobLog.entries << [:echo, args, jid]
  end
end

class FailingJob
  include Sidekiq::Job

  def perform(message)
    JobLog.entries << [:failing, message]
    raise ArgumentError, message
  end
end

# Pushes itself again with a smaller count until it reaches zero.
class CountdownJob
  include Sidekiq::Job

  def perform(count)
    JobLog.entries << [:countdown, count]
    CountdownJob.perform_async(count - 1) if count.positive?
  end
end

# Pushes an AddJob: a job of another class enqueued while draining.
class FanOutJob
  include Sidekiq::Job

  def perform(count)
    JobLog.entries << [:fan_out, count]
    count.times { |index| AddJob.perform_async(index, count) }
  end
end

module Billing
  class InvoiceJob
    include Sidekiq::Job
    sidekiq_options queue: "billing"

    def perform(invoice_id)
      JobLog.entries << [:invoice, invoice_id]
    end
  end
end

# A client middleware that stops jobs whose first argument is "stop" and stamps the rest.
class StampMiddleware
  def call(_job_class, job, _queue, _redis_pool)
    return false if job["args"].first == "stop"

    job["stamp"] = "client"
    yield
  end
end

# A server middleware that records what it was called with, and skips "skip" jobs.
class RecordingServerMiddleware
  def call(instance, job, queue)
    JobLog.entries << [:server_middleware, instance.class.name, job["jid"], queue]
    yield unless job["args"].first == "skip"
  end
end
