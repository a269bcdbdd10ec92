# frozen_string_literal: true

require "sidekiq/job_logger"
require "sidekiq/job_retry"

module Sidekiq
  # One worker thread: takes jobs from the engine (waiting in Rust without the GVL), runs them
  # through the job logger, the retry handlers, the reloader and the server middleware, and
  # acknowledges them.
  class Processor
    # How long one wait for a job lasts before the thread checks whether it should stop.
    FETCH_WAIT = 1.0

    attr_reader :thread, :job

    def initialize(config, engine, job_logger, retrier)
      @config = config
      @engine = engine
      @job_logger = job_logger
      @retrier = retrier
      @reloader = config[:reloader]
      @job = nil
      @done = false
    end

    def start
      @thread = Thread.new do
        Thread.current.name = "sidekiq.processor"
        run
      end
      self
    end

    # Finish the current job, then stop.
    def terminate
      @done = true
    end

    def alive?
      @thread&.alive?
    end

    private

    def run
      until @done
        unit = @engine.next_job(FETCH_WAIT)
        break if unit == false

        process(*unit) if unit
      end
    rescue Sidekiq::Shutdown
      nil
    rescue StandardError => e
      # Never lose a worker thread to an unexpected error: report it and carry on.
      @config.handle_exception(e, { context: "Processor error" })
      retry unless @done
    end

    def process(queue, jobstr)
      @job = [queue, jobstr]
      job_hash = parse(queue, jobstr) or return
      ack = false
      begin
        dispatch(job_hash, queue, jobstr) do |instance|
          @config.server_middleware.invoke(instance, job_hash, queue) { instance.perform(*job_hash["args"]) }
        end
        ack = true
      rescue Sidekiq::Shutdown
        raise # the launcher already put the job back on its queue
      rescue Sidekiq::JobRetry::Skip
        ack = true
      rescue Sidekiq::JobRetry::Handled => e
        ack = true
        @config.handle_exception(e.cause || e, { context: "Job raised exception", job: job_hash })
      rescue Exception => e # rubocop:disable Lint/RescueException
        @config.handle_exception(e, { context: "Internal exception!", job: job_hash, jobstr: })
      ensure
        @engine.acknowledge(queue, jobstr) if ack
        @job = nil
      end
    end

    # A payload that is not JSON goes to the dead set, as in Sidekiq; nothing else is lost.
    def parse(queue, jobstr)
      Sidekiq.load_json(jobstr)
    rescue StandardError => e
      @config.handle_exception(e, { context: "Invalid JSON for job", jobstr: })
      @engine.send_to_morgue(jobstr)
      @engine.acknowledge(queue, jobstr)
      nil
    end

    def dispatch(job_hash, queue, jobstr)
      @job_logger.prepare(job_hash) do
        @retrier.global(jobstr, queue) do
          @job_logger.call(job_hash, queue) do
            stats(jobstr, queue, job_hash) do
              @reloader.call do
                instance = Object.const_get(job_hash["class"]).new
                instance.jid = job_hash["jid"]
                @retrier.local(instance, jobstr, queue) { yield instance }
              end
            end
          end
        end
      end
    end

    def stats(jobstr, queue, job_hash)
      tid = Sidekiq.tid
      @engine.work_started(tid, queue, jobstr, @job_logger.core_context(job_hash))
      failed = false
      begin
        yield
      rescue Exception # rubocop:disable Lint/RescueException
        failed = true
        raise
      ensure
        @engine.work_finished(tid, failed)
      end
    end
  end
end
