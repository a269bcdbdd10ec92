# frozen_string_literal: true

require "securerandom"
require "socket"
require "sidekiq/processor"
require "sidekiq/scheduled"

module Sidekiq
  # Starts and stops everything a server process runs: the Rust engine (fetching,
  # acknowledgements), the worker threads, the heartbeat and the scheduled-job poller.
  class Launcher
    BEAT_PAUSE = 10
    # How often the engine's log messages (Redis outages and recoveries) are written out.
    EVENTS_PAUSE = 1
    # Every this many beats, look for jobs left behind by processes that died.
    RECOVERY_EVERY = 3

    attr_reader :engine, :processors

    def initialize(config)
      @config = config
      @done = false
      @beats = Ferrokiq::Sleeper.new
    end

    def identity
      @identity ||= "#{hostname}:#{::Process.pid}:#{SecureRandom.hex(6)}"
    end

    def hostname
      ENV["DYNO"] || Socket.gethostname
    end

    def run
      @engine = Ferrokiq::Native::Engine.new(@config.redis_pool.native, engine_options)
      @heartbeat = start_heartbeat
      # The engine moves due jobs itself unless client middleware must see the re-push.
      @poller = Scheduled::Poller.new(@config, @engine).start unless engine_schedules?
      job_logger = JobLogger.new(@config)
      if job_logger.core_capable?
        @engine.log_jobs_to_stdout
        job_logger.hand_to_core!
      end
      retrier = JobRetry.new(@config, @engine)
      @processors = Array.new(@config.concurrency) { Processor.new(@config, @engine, job_logger, retrier).start }
    end

    def stopping?
      @done
    end

    # Stop taking new work; running jobs finish. `stop` calls it too, so only the first call acts.
    def quiet
      return if stopping?

      @done = true
      close_intake
      fire_event(:quiet, reverse: true)
    end

    # Quiet, wait up to `timeout` for running jobs, then put the unfinished ones back on
    # their queues and interrupt them; finally leave the process registry.
    def stop
      deadline = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) + @config[:timeout]
      quiet
      fire_event(:shutdown, reverse: true)
      wait_for_processors(deadline)
      hard_shutdown
      @stopping_beats = true
      @beats.wake
      @heartbeat.join(5)
      @engine.stop
      log_engine_events
    end

    private

    def engine_options
      {
        "identity" => identity, "hostname" => hostname, "tag" => @config[:tag].to_s,
        "labels" => @config[:labels].to_a.map(&:to_s), "concurrency" => @config.concurrency,
        "queues" => @config.queue_weights, "fetch" => @config[:fetch].to_s,
        "version" => Sidekiq::VERSION, "dead_max_jobs" => Integer(@config[:dead_max_jobs]),
        "dead_timeout" => Float(@config[:dead_timeout_in_seconds]),
        "scheduler_defaults" => (Sidekiq.dump_json(Sidekiq.default_job_options) if engine_schedules?)
      }
    end

    def engine_schedules?
      @config.client_middleware.empty?
    end

    # Everything that brings work in: the engine's fetching, each processor's loop and the
    # scheduled-job poller (absent when the engine moves due jobs itself).
    def close_intake
      @engine.quiet
      @processors.each(&:terminate)
      @poller&.terminate
    end

    def wait_for_processors(deadline)
      @config.logger.info("Pausing to allow jobs to finish...") if @processors.any?(&:alive?)
      sleep 0.05 while @processors.any?(&:alive?) && ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) < deadline
    end

    def hard_shutdown
      busy = @processors.select(&:alive?)
      return if busy.empty?

      jobs = busy.filter_map(&:job)
      @config.logger.warn("Terminating #{busy.size} busy threads")
      @config.logger.warn("Jobs still in progress: #{jobs.map(&:last).join(", ")}") unless jobs.empty?
      # Back on the queue before the threads are interrupted: better run twice than never.
      @engine.requeue(jobs)
      busy.each { |processor| processor.thread.raise(Sidekiq::Shutdown) }
      cutoff = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) + 3
      busy.each do |processor|
        processor.thread.join([cutoff - ::Process.clock_gettime(::Process::CLOCK_MONOTONIC), 0].max)
      end
    end

    def start_heartbeat
      Thread.new do
        Thread.current.name = "sidekiq.heartbeat"
        beats = 0
        until @stopping_beats
          beat
          recover_orphans if (beats % RECOVERY_EVERY).zero?
          beats += 1
          (BEAT_PAUSE / EVENTS_PAUSE).times do
            break if @beats.sleep(EVENTS_PAUSE)

            log_engine_events
          end
        end
      end
    end

    def beat
      $0 = procline
      first, signal = @engine.beat
      @redis_down = false
      fire_event(:heartbeat) if first
      fire_event(:beat, oneshot: false)
      ::Process.kill(signal, ::Process.pid) if signal
    rescue StandardError => e
      @config.logger.error("heartbeat: #{e}") unless @redis_down
      @redis_down = true
    ensure
      log_engine_events
    end

    # What `ps` shows, as with Sidekiq: "sidekiq 7.3.10 myapp [3 of 10 busy]".
    def procline
      tag = @config[:tag].to_s.empty? ? nil : @config[:tag]
      parts = ["sidekiq", Sidekiq::VERSION, tag, "[#{@engine.busy} of #{@config.concurrency} busy]"]
      parts << "stopping" if @done
      parts.compact.join(" ")
    end

    def log_engine_events
      @engine.events.each { |message| @config.logger.info(message) }
    end

    def recover_orphans
      @engine.recover_orphans
    rescue StandardError => e
      @config.logger.warn("Could not look for jobs of dead processes: #{e}")
    end

    def fire_event(event, reverse: false, oneshot: true)
      @config.fire_event(event, reverse:, oneshot:)
    end
  end
end
