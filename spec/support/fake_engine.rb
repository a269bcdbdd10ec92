# frozen_string_literal: true

# Stands in for Ferrokiq::Native::Engine so that Processor and JobRetry run in this process,
# one job at a time, with every call the Ruby side makes to the engine recorded. A test queues
# [queue, payload] pairs; the processor takes them and stops when they are gone.
class FakeEngine
  attr_reader :calls, :morgue, :retries, :executions, :ended_lanes

  def initialize(jobs = [])
    @jobs = jobs.dup
    @calls = []
    @morgue = []
    @retries = []
    @executions = []
    @ended_lanes = []
    @failing = {}
  end

  # Makes the named engine call raise +error+ (a Redis failure) from now on.
  def fail(call, error)
    @failing[call] = error
  end

  def next_job(_timeout)
    @jobs.shift || false
  end

  # One capsule's thread asks (the fake hands every capsule the same jobs).
  def next_job_for(_lane, timeout)
    next_job(timeout)
  end

  def acknowledge(queue, payload)
    record(:acknowledge, queue, payload)
  end

  def abandon(queue, payload)
    record(:abandon, queue, payload)
  end

  # Kept apart from #calls: a thread's end is not part of any job's engine protocol.
  def worker_thread_ended(lane)
    @ended_lanes << lane
  end

  def work_started(tid, queue, payload, log)
    record(:work_started, tid, queue, payload, log)
  end

  def work_finished(tid, failed)
    record(:work_finished, tid, failed)
  end

  # Kept apart from #calls: the metrics are not part of the job's engine protocol.
  def record_execution(klass, queue, millis, failed)
    @executions << [klass, queue, millis, failed]
  end

  def schedule_retry(payload, at)
    record(:schedule_retry, payload, at)
    @retries << payload
    true
  end

  def send_to_morgue(payload)
    record(:send_to_morgue, payload)
    @morgue << payload
    true
  end

  # The names of the calls made, in order.
  def call_names
    @calls.map(&:first)
  end

  private

  def record(name, *args)
    raise @failing[name] if @failing.key?(name)

    @calls << [name, *args]
  end
end
