# frozen_string_literal: true

require "ferrokiq/native_log"
require "ferrokiq/memory_limit"
require "ferrokiq/dynamic_queues"
require "sidekiq/component"
require "sidekiq/launcher/worker_thread_care"
require "sidekiq/processor"
require "sidekiq/scheduled"

module Sidekiq
  # Starts and stops everything a server process runs: the Rust engine (fetching,
  # acknowledgements, the scheduler), each capsule's worker threads, the heartbeat and the thread
  # that pushes through the client middleware the due jobs the scheduler hands to Ruby.
  class Launcher
    # identity and hostname, shared with plugins' components.
    include Component
    include WorkerThreadCare

    BEAT_PAUSE = 10
    # How long the stop waits for the due jobs claimed for the client middleware to be pushed;
    # the engine puts back in their sets those that are not by then.
    HAND_OFF_GRACE = 3
    # How often the engine's events are written out and the worker threads looked after.
    EVENTS_PAUSE = 1

    # What the engine reports about itself (a task that failed, Redis errors in the
    # background), as an exception for the error handlers.
    class EngineError < Ferrokiq::Error; end

    # Redis 6.2 brought the commands the engine moves jobs with (LMOVE, BLMOVE, RPOP with a
    # count), as Sidekiq 7 requires it too.
    MINIMUM_REDIS = Gem::Version.new("6.2.0")

    attr_reader :engine, :processors

    # +embedded+: the process belongs to another application (Sidekiq.configure_embed), which
    # owns its name, its signals and its standard output (docs/design.md, §18).
    def initialize(config, embedded: false)
      @config = config
      @embedded = embedded
      @done = false
      @beats = Ferrokiq::Sleeper.new
      @failure = nil
    end

    # Why the engine stopped working, once it has: the process then shuts down and exits 1.
    # The memory limit (nil when none is set): once reached, the process shuts down and exits
    # Ferrokiq::MemoryLimit::EXIT_STATUS.
    attr_reader :failure, :memory_limit

    def run
      check_capsules!
      @memory_limit = Ferrokiq::MemoryLimit.from(@config)
      Sidekiq.freeze!
      @engine = Ferrokiq::Native::Engine.new(@config.redis_pool.native, engine_options)
      tick
      @heartbeat = start_heartbeat
      Ferrokiq::UniqueJobs::Reaper.new(@config).start
      warn_custom_enq
      # The engine's scheduler claims due jobs for this thread when client middleware must see
      # their re-push (docs/design.md, §5.2), and periodic jobs with a unique-job lock even
      # without middleware (docs/design.md, §5.1): the schedule is the cluster's, so always.
      @hand_off = Scheduled::HandOff.new(@config, @engine).start
      @job_logger = start_job_logger
      @retrier = JobRetry.new(@config, @engine)
      @processors = capsules.each_with_index.flat_map do |capsule, lane|
        Array.new(capsule.concurrency) { new_processor(capsule, lane) }
      end
    end

    def stopping? = @done

    # Sidekiq 7's poller would move due jobs with this class; the engine's scheduler moves them
    # itself (docs/design.md, §5), so a custom mover would silently do nothing.
    def warn_custom_enq
      return unless @config[:scheduled_enq]

      @config.logger.warn("config[:scheduled_enq] (#{@config[:scheduled_enq]}) is not used: Ferrokiq's scheduler " \
                          "moves due jobs itself; call it with #enqueue_jobs yourself if it must run")
    end

    # The core formats and writes the logger's lines and the job lines when the logger allows
    # it (not in an embedded instance, whose host owns the logger and $stdout).
    def start_job_logger
      @native_log = Ferrokiq::NativeLog.attach_server_loggers(@config.logger) unless @embedded
      job_logger = JobLogger.new(@config)
      if @native_log && job_logger.writes_lines?
        @engine.log_jobs_to(@native_log.writer)
        job_logger.hand_to_core!
      end
      job_logger
    end

    # Stop taking new work; running jobs finish. `stop` calls it too, so only the first call acts.
    def quiet
      return if stopping?

      @done = true
      capsules.each { |capsule| @config.logger.info("Terminating quiet threads for #{capsule.name} capsule") }
      close_intake
      fire_event(:quiet, reverse: true)
    end

    # Quiet, wait up to `timeout` for running jobs, then put the unfinished ones back on
    # their queues and interrupt them; finally leave the process registry. Redis failing on
    # the way (it may be why the process is stopping) is logged, never a reason to cut the
    # running jobs' grace period short.
    def stop
      deadline = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) + @config[:timeout]
      quiet
      fire_event(:shutdown, reverse: true)
      wait_for_processors(deadline)
      hard_shutdown
      @stopping_beats = true
      @beats.wake
      @heartbeat.join(5)
      @hand_off&.stop(HAND_OFF_GRACE)
      @engine.stop
      log_engine_events
      Ferrokiq::NativeLog.detach_all unless @embedded
    end

    private

    def new_processor(capsule, lane)
      Processor.new(@config, @engine, @job_logger, @retrier, capsule:, lane:).start
    end

    # The default capsule first, then the others in the order they were declared: the engine
    # numbers its hand-offs the same way, so a capsule's index is its lane.
    def capsules
      [@config.default_capsule, *@config.capsules.values.reject { |cap| cap.equal?(@config.default_capsule) }]
    end

    # A capsule without threads would still fetch a job, and hold it until the process stops.
    def check_capsules!
      capsules.each do |cap|
        next if cap.concurrency.positive? && !cap.queue_names.empty?

        raise ArgumentError, "Capsule #{cap.name} needs a concurrency of 1 or more and at least one queue"
      end
    end

    def engine_options
      default, *others = capsules
      {
        "identity" => identity, "hostname" => hostname, "tag" => @config[:tag].to_s,
        "labels" => @config[:labels].to_a.map(&:to_s), "concurrency" => default.concurrency,
        "queues" => default.queue_weights, "fetch" => @config[:fetch].to_s,
        "dynamic" => Ferrokiq::DynamicQueues.exclusions(@config),
        "capsules" => others.map { |cap| [cap.name, cap.concurrency, cap.queue_weights] },
        "version" => Sidekiq::VERSION, "embedded" => @embedded,
        "dead_max_jobs" => Integer(@config[:dead_max_jobs]),
        "dead_timeout" => Float(@config[:dead_timeout_in_seconds]),
        "stranded_after" => Float(@config[:stranded_after]),
        "scheduler_defaults" => Sidekiq.dump_json(Sidekiq.default_job_options),
        "scheduler_hand_off" => hand_off?
      }
    end

    def hand_off?
      !@config.client_middleware.empty?
    end

    # Everything that brings work in: the engine's fetching (and scheduler) and each
    # processor's loop. The hand-off thread ends by itself once the jobs already claimed are
    # pushed.
    def close_intake
      @engine.quiet
      @processors.each(&:terminate)
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
      # If Redis refuses, reliable fetch still has them in the working lists.
      requeue_unfinished(jobs)
      busy.each { |processor| processor.thread.raise(Sidekiq::Shutdown) }
      cutoff = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) + 3
      busy.each do |processor|
        processor.thread.join([cutoff - ::Process.clock_gettime(::Process::CLOCK_MONOTONIC), 0].max)
      end
    end

    def requeue_unfinished(jobs)
      @engine.requeue(jobs)
    rescue Ferrokiq::RedisError => e
      @config.logger.warn("Could not put #{jobs.size} unfinished jobs back on their queues: #{e.message}")
    end

    # Beats every BEAT_PAUSE seconds; in between, once a second, writes out the engine's events
    # and looks after the worker threads. Stops beating as soon as the engine has failed, so a
    # process that no longer works is never shown as alive.
    def start_heartbeat
      Thread.new do
        Thread.current.name = "sidekiq.heartbeat"
        until @stopping_beats || @failure
          tick
          beat
          (BEAT_PAUSE / EVENTS_PAUSE).times do
            break if @beats.sleep(EVENTS_PAUSE) || @failure

            tick
            look_after_process
          end
        end
      end
    end

    # The upkeep loop went round: the core's clock for /live and the systemd watchdog, which
    # tell whether the process still makes progress (docs/design.md, §21.2).
    def tick
      @engine.upkeep_tick
    end

    def look_after_process
      log_engine_events
      watch_engine
      @memory_limit&.enforce(@config.logger, embedded: @embedded) { quiet }
      replace_dead_processors
    rescue StandardError => e
      @config.handle_exception(e, { context: "Heartbeat thread" })
    end

    # The engine gave up (a task kept failing): shut the process down, exit status 1. An
    # embedded instance only stops taking work: its process is the host application's, and the
    # host's own `stop` finishes the shutdown.
    def watch_engine
      why = @engine.failure
      return unless why && !@failure

      @failure = why
      if @embedded
        @config.logger.error("The engine stopped working: #{why}. No longer taking jobs")
        quiet
      else
        @config.logger.error("The engine stopped working: #{why}. Shutting down")
        ::Process.kill("TERM", ::Process.pid)
      end
    end

    # An embedded instance leaves the process title and signals to its host; the Web UI and
    # API send it none (docs/wire-format.md §6.3).
    def beat
      $0 = procline unless @embedded
      first, signal = @engine.beat
      @redis_down = false
      fire_event(:heartbeat) if first
      fire_event(:beat, oneshot: false)
      ::Process.kill(signal, ::Process.pid) if signal && !@embedded
    rescue StandardError => e
      @config.logger.error("heartbeat: #{e}") unless @redis_down
      @redis_down = true
    ensure
      log_engine_events
    end

    # What `ps` shows, as with Sidekiq: "sidekiq 7.3.10 myapp [3 of 10 busy]".
    def procline
      tag = @config[:tag].to_s.empty? ? nil : @config[:tag]
      parts = ["sidekiq", Sidekiq::VERSION, tag, "[#{@engine.busy} of #{@config.total_concurrency} busy]"]
      parts << "stopping" if @done
      parts.compact.join(" ")
    end

    # Each at its level; failures also go to the error handlers, as Sidekiq reports them.
    def log_engine_events
      @engine.events.each do |level, message, context, error|
        @config.logger.public_send(level, message)
        @config.handle_exception(EngineError.new(error), { context: }) if context
      end
    end

    def fire_event(event, reverse: false, oneshot: true)
      @config.fire_event(event, reverse:, oneshot:)
    end
  end
end
