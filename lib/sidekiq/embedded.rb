# frozen_string_literal: true

require "sidekiq/component"
require "sidekiq/launcher"

module Sidekiq
  # A Sidekiq server running inside another Ruby process, made by `Sidekiq.configure_embed`: a
  # Puma worker (config/puma.rb calls #run when the worker boots and #stop when it shuts down)
  # or any long-running script. The host owns the process: no signal traps, no process title,
  # standard output left alone; the process registry marks it `embedded`, so the Web UI and API
  # do not offer to quiet or stop it (docs/design.md, §18).
  class Embedded
    include Component

    # Worker threads share the host's GVL with its own threads (Puma's request threads), so an
    # embedded server starts with few.
    CONCURRENCY = 2

    def initialize(config)
      @config = config
      @stopping = Mutex.new
    end

    # Checks Redis, fires :startup and starts the worker threads; returns once they run. The
    # configuration is frozen from here on.
    def run
      logger.info("Running in #{RUBY_DESCRIPTION}")
      logger.info("Ferrokiq #{Ferrokiq::VERSION} (Sidekiq #{Sidekiq::VERSION} API) embedded, " \
                  "#{@config.concurrency} threads, queues #{@config.queues.uniq.join(", ")}, #{@config[:fetch]} fetch")
      check_redis!
      # While the host may still be single-threaded (see Sidekiq::ActiveJob.load_adapter).
      Sidekiq::ActiveJob.load_adapter if defined?(::ActiveJob) && defined?(::Sidekiq::ActiveJob)
      fire_event(:startup, reraise: true)
      @launcher = Launcher.new(@config, embedded: true)
      @launcher.run
      logger.info("Ferrokiq running embedded, #{Thread.list.size} threads in this process")
      self
    end

    # Stops taking new jobs; running ones finish.
    def quiet
      @launcher&.quiet
    end

    # Quiet, then wait up to the `timeout` option for running jobs, put back the unfinished
    # ones and leave the process registry. Only the first call does it; later ones return at once.
    def stop
      @stopping.synchronize do
        next if @stopped || !@launcher

        logger.info("Stopping the embedded Ferrokiq server")
        @launcher.stop
        @stopped = true
        logger.info("Embedded Ferrokiq server stopped")
      end
    end

    private

    def check_redis!
      version = Gem::Version.new(@config.redis_info.fetch("redis_version", "0"))
      return if version >= Launcher::MINIMUM_REDIS

      raise Ferrokiq::Error, "Ferrokiq needs Redis #{Launcher::MINIMUM_REDIS} or newer; the server at " \
                             "#{@config.redis_pool.url} is Redis #{version}"
    end
  end
end

# Iterable jobs' re-queueing middleware, for embedded servers too (cli.rb loads it for the CLI).
require "sidekiq/job/interrupt_handler"
