# frozen_string_literal: true

require "English"
require "sidekiq/job_logger"
require "sidekiq/job_retry"
require "ferrokiq/execution_metrics"

module Sidekiq
  # One worker thread of a capsule: takes that capsule's jobs from the engine (waiting in Rust
  # without the GVL), runs them through the job logger, the retry handlers, the reloader and
  # the server middleware, and acknowledges them.
  class Processor
    # How long one wait for a job lasts before the thread checks whether it should stop.
    FETCH_WAIT = 1.0
    # Masks for Thread.handle_interrupt, built once: a Hash literal there costs allocations per job.
    HOLD_SHUTDOWN = { Sidekiq::Shutdown => :never }.freeze
    ALLOW_SHUTDOWN = { Sidekiq::Shutdown => :immediate }.freeze
    # Where Sidekiq.load_json is defined while the app leaves it alone.
    STOCK_LOAD_JSON = File.expand_path("../sidekiq.rb", __dir__)
    private_constant :HOLD_SHUTDOWN, :ALLOW_SHUTDOWN, :STOCK_LOAD_JSON

    attr_reader :thread, :job, :capsule, :lane

    # `lane`: the capsule's index among the engine's capsules (0, the default one, first).
    def initialize(config, engine, job_logger, retrier, capsule: config.default_capsule, lane: 0)
      @config = config
      @capsule = capsule
      @lane = lane
      @engine = engine
      @job_logger = job_logger
      @retrier = retrier
      # Sidekiq's default reloader only calls its block: skipped, it would cost a Proc per job.
      @reloader = config[:reloader] unless config[:reloader].equal?(Config::DEFAULTS[:reloader])
      @metrics = Ferrokiq::ExecutionMetrics.for(engine)
      @basic_fetch = config[:fetch].to_s == "basic"
      @native_json = stock_json?
      @job = nil
      @lock_release = nil
      @done = false
    end

    def start
      @thread = Thread.new do
        Thread.current.name = "sidekiq.processor"
        Thread.current[:sidekiq_capsule] = @capsule
        run
      ensure
        # Also when a job killed the thread: a job it held must stop counting as running.
        @engine.worker_thread_ended(@lane)
      end
      self
    end

    # The process is stopping: an unexpected error ends the thread instead of being retried.
    # (The loop itself ends when the quiet engine has no job left for it.)
    def terminate
      @done = true
    end

    def alive?
      @thread&.alive?
    end

    # What Sidekiq::Job#interrupted? asks (the job's _context): true from quiet on, so an
    # iterable job saves its cursor and hands its work back. The engine's flag is set the moment
    # quiet begins, before the launcher tells the processors (after the engine has handed back
    # its prefetched jobs, which can take a blocking fetch's wait).
    def stopping?
      @done || @engine.quiet?
    end

    # The running job succeeded holding an until_executed lock: the engine releases it with
    # the job's acknowledgement, in the same pipeline, once the job is settled; a job left
    # unsettled keeps it, as it runs again (docs/design.md, §24).
    def release_lock_on_acknowledge(digest, jid)
      @lock_release = [digest, jid]
    end

    private

    # The loop ends when the engine says so (false): once the process is quiet, after any jobs
    # basic fetch could not put back (they exist nowhere else, so they run here first).
    #
    # Sidekiq::Shutdown, which the launcher raises into threads still busy when the shutdown
    # timeout ends, is let in only while a job runs (#recorded): never while a job is taken,
    # acknowledged or handed back. A thread with a shutdown pending takes no further job.
    def run
      Thread.handle_interrupt(HOLD_SHUTDOWN) do
        until Thread.pending_interrupt?
          unit = @engine.next_job_for(@lane, FETCH_WAIT)
          break if unit == false

          process(unit) if unit
        end
      end
    rescue Sidekiq::Shutdown
      nil
    rescue StandardError => e
      # Never lose a worker thread to an unexpected error: report it and carry on.
      @config.handle_exception(e, { context: "Processor error" })
      retry unless @done
    end

    # One job through its stages, outermost first:
    #   #settled?   log context and the job's log_level (JobLogger#prepare), then the global
    #               retry handler, which catches what fails before the class is known
    #   #logged     the start/done/fail lines, unless the core writes them
    #   #recorded   the busy record (Engine#work_started/#work_finished), then the reloader
    #   #invoke_job class lookup, the job's own retry hooks, server middleware, #perform
    # Each stage names the next one, so no block is threaded through every layer.
    #
    # A job that ends unsettled (an error past both retry handlers, or its thread killed) is
    # abandoned: it stays in the working list, and the engine's sweep puts it back on its
    # queue. One interrupted by the shutdown was handed back by the launcher already.
    #
    # `unit` is the engine's `[queue, payload]`, kept as #job while the job is handled.
    def process(unit)
      @job = unit
      queue, jobstr = unit
      outcome = :unsettled
      job = decode(queue, jobstr)
      outcome = if job.nil?
                  :dead_lettered
                elsif settled?(job, queue, jobstr)
                  :settled
                else
                  :unsettled
                end
    ensure
      case outcome
      when :settled then acknowledge(queue, jobstr)
      when :unsettled then @engine.abandon(queue, jobstr) unless $ERROR_INFO.is_a?(Sidekiq::Shutdown)
      end
      @job = nil
      @lock_release = nil
    end

    def acknowledge(queue, jobstr)
      if @lock_release
        @engine.acknowledge_and_release(queue, jobstr, *@lock_release)
      else
        @engine.acknowledge(queue, jobstr)
      end
    end

    # Unreadable payloads, and JSON that is no job Hash (`42`, `[]`), can never run: they are
    # kept in the dead set as they came, and their queue entry is released.
    def decode(queue, jobstr)
      job = (@native_json && Ferrokiq::Native.load_job(jobstr)) || Sidekiq.load_json(jobstr)
      return job if job.is_a?(Hash)

      raise JSON::ParserError, "a job must be a JSON object, got #{job.class}: #{jobstr[0, 100]}"
    rescue StandardError => e
      @config.handle_exception(e, { context: "Invalid JSON for job", jobstr: })
      @engine.send_to_morgue(jobstr)
      @engine.acknowledge(queue, jobstr)
      nil
    end

    # Payloads are read in Rust into the Hash JSON.parse would return (docs/performance.md, §3.2),
    # unless the app replaced Sidekiq.load_json or JSON.parse (Oj's mimic mode, say): then every
    # job goes through its replacement.
    def stock_json?
      Sidekiq.method(:load_json).source_location&.first == STOCK_LOAD_JSON &&
        JSON.method(:parse).source_location&.first&.end_with?("/json/common.rb")
    end

    # Runs the job and says whether its queue entry can go: yes once it succeeded or its failure
    # was stored by a retry handler; no when something slipped past both handlers (the entry
    # stays for recovery) or a shutdown interrupted it (the launcher has requeued it already).
    def settled?(job, queue, jobstr)
      @job_logger.prepare(job) { @retrier.global(jobstr, queue) { logged(job, queue, jobstr) } }
      true
    rescue Sidekiq::Shutdown
      raise
    rescue Sidekiq::JobRetry::Handled => e
      # A Skip asks for no report at all; any other failure is reported once, here.
      unless e.is_a?(Sidekiq::JobRetry::Skip)
        @config.handle_exception(e.cause || e, { context: "Job raised exception", job: })
      end
      true
    rescue Exception => e # rubocop:disable Lint/RescueException
      @config.handle_exception(e, { context: "Internal exception!", job:, jobstr: })
      false
    end

    def logged(job, queue, jobstr)
      log_context = @job_logger.core_context(job)
      # Only false hands the lines to Ruby (tested without `==`, which is a call on an Array).
      return recorded(job, queue, jobstr, log_context) if log_context || log_context.nil?

      @job_logger.call(job, queue) { recorded(job, queue, jobstr, nil) }
    end

    # In core mode the engine also writes the job's lines when the record closes (`log_context`:
    # what the core needs for them, see JobLogger#core_context; nil when it writes none).
    def recorded(job, queue, jobstr, log_context)
      tid = Sidekiq.tid
      @engine.work_started(tid, queue, jobstr, log_context)
      completed = false
      begin
        Thread.handle_interrupt(ALLOW_SHUTDOWN) do
          next invoke_job(job, queue, jobstr) unless @reloader

          @reloader.call { invoke_job(job, queue, jobstr) }
        end
        completed = true
      ensure
        @engine.work_finished(tid, !completed)
      end
    end

    # Inside the reloader, so the class comes from freshly reloaded code. Failures from here on
    # can use the class's sidekiq_retry_in / sidekiq_retries_exhausted hooks.
    def invoke_job(job, queue, jobstr)
      instance = Object.const_get(job["class"]).new
      instance.jid = job["jid"]
      instance._context = self if instance.respond_to?(:_context=)
      @retrier.local(instance, jobstr, queue) do
        @metrics.track(job, queue) do
          next run_middleware(instance, job, queue) unless job.key?("lock")

          # Unique jobs (docs/design.md, §24): the lock's lifetime wraps middleware and perform.
          Ferrokiq::UniqueJobs::ServerLocks.around(job, self, basic_fetch: @basic_fetch) do
            run_middleware(instance, job, queue)
          end
        end
      end
    end

    def run_middleware(instance, job, queue)
      @config.server_middleware.invoke(instance, job, queue) { instance.perform(*job["args"]) }
    end
  end
end
