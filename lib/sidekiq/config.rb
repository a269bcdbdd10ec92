# frozen_string_literal: true

require "forwardable"
require "set"
require "sidekiq/capsule"

module Sidekiq
  # The settings of one Sidekiq "instance": options, Redis, middleware, handlers and lifecycle
  # events. `Sidekiq.default_configuration` is the one `configure_client`/`configure_server`
  # yield.
  class Config
    extend Forwardable

    # The events `on` accepts. :heartbeat fires on the first beat after startup and again after
    # each Redis outage; :beat fires on every beat, so it is the only one that is not one-shot.
    LIFECYCLE_EVENTS = %i[startup quiet shutdown heartbeat beat].freeze

    SIX_MONTHS = 180 * 24 * 60 * 60

    # Sidekiq 7's option names and default values (apps read and set them by these names).
    # Mutable on purpose: Sidekiq.strict_args! changes it for every configuration, as in Sidekiq 7.
    DEFAULTS = { # rubocop:disable Style/MutableConstant
      # the server process: what it loads, how many threads, which queues, how it stops
      require: ".",
      environment: nil,
      labels: Set.new,
      concurrency: 5,
      queues: ["default"],
      fetch: :reliable,
      timeout: 25,
      # scheduled jobs (poll_interval_average nil: derived from the process count) and the dead set
      average_scheduled_poll_interval: 5,
      poll_interval_average: nil,
      dead_max_jobs: 10_000,
      # reliable fetch: seconds a job may sit in this process's working list unworked before
      # the sweep puts it back on its queue
      stranded_after: 60,
      dead_timeout_in_seconds: SIX_MONTHS,
      # hooks an app may replace or add to
      on_complex_arguments: :raise,
      error_handlers: [],
      death_handlers: [],
      lifecycle_events: LIFECYCLE_EVENTS.to_h { |event| [event, []] },
      reloader: proc { |&block| block.call },
      backtrace_cleaner: ->(backtrace) { backtrace }
    }

    # The handler used when the app registers none: the job's context, the error, then the
    # (cleaned) backtrace, each as its own warning so log processors keep them apart.
    ERROR_HANDLER = lambda do |ex, ctx, cfg = Sidekiq.default_configuration|
      trace = ex.backtrace && cfg[:backtrace_cleaner].call(ex.backtrace).join("\n")
      context = Sidekiq.dump_json(ctx) unless ctx.empty?
      [context, "#{ex.class.name}: #{ex.message}", trace].compact.each { |line| cfg.logger.warn(line) }
    end

    def_delegators :@options, :[], :[]=, :fetch, :key?, :has_key?, :merge!, :dig

    def initialize(options = {})
      @options = deep_dup(DEFAULTS).merge(options)
      @options[:error_handlers] << ERROR_HANDLER if @options[:error_handlers].empty?
      @redis_config = {}
      @redis_pool = nil
      @capsules = {}
    end

    # name => Sidekiq::Capsule, the default capsule first (every server process runs it).
    def capsules
      default_capsule
      @capsules
    end

    def inspect
      shown = @options.except(:lifecycle_events, :reloader, :death_handlers, :error_handlers)
      "#<#{self.class.name} @options=#{shown.inspect}>"
    end

    def to_json(*)
      Sidekiq.dump_json(@options)
    end

    # The default capsule's threads (as in Sidekiq 7; the option keeps the same value).
    def concurrency
      default_capsule.concurrency
    end

    def concurrency=(val)
      default_capsule.concurrency = val
      @options[:concurrency] = default_capsule.concurrency
    end

    # Threads in every capsule together: the process's concurrency in the heartbeat.
    def total_concurrency
      capsules.each_value.sum(&:concurrency)
    end

    # The default capsule's queues, each repeated by its weight, as Sidekiq 7 lists them.
    def queues
      default_capsule.queues
    end

    # Sets the default capsule's queues: "name", "name,weight" or [name, weight] each.
    def queues=(val)
      default_capsule.queues = val
      @options[:queues] = Array(val)
    end

    # The default capsule's [[name, weight], ...]; weight 0 everywhere means strict order.
    def queue_weights
      default_capsule.queue_weights
    end

    def default_capsule(&)
      capsule("default", &)
    end

    # The capsule called `name`, made on first use (the default one from the :concurrency and
    # :queues options, any other with :concurrency threads on the "default" queue until set).
    def capsule(name)
      key = name.to_s
      cap = @capsules[key] ||= new_capsule(key)
      yield cap if block_given?
      cap
    end

    def client_middleware(&block)
      middleware_for(:client, &block)
    end

    def server_middleware(&block)
      middleware_for(:server, &block)
    end

    # Merges Redis options (url:, password:, db:, timeout:, size:, ...). The connection is
    # rebuilt on next use.
    def redis=(hash)
      @redis_config = @redis_config.merge(hash.to_h.transform_keys(&:to_sym))
      @redis_pool = nil
    end

    def redis_pool
      Thread.current[:sidekiq_redis_pool] || (@redis_pool ||= new_redis_pool(@redis_config[:size] || 10))
    end

    def new_redis_pool(size, _name = "unset")
      RedisConnection.create(@redis_config.merge(size:))
    end

    # Yields a connection to Redis (see Ferrokiq::RedisConnection).
    def redis(&block)
      raise ArgumentError, "requires a block" unless block_given?

      redis_pool.with(&block)
    end

    def redis_info
      redis(&:info)
    end

    def error_handlers
      @options[:error_handlers]
    end

    def death_handlers
      @options[:death_handlers]
    end

    def average_scheduled_poll_interval=(interval)
      @options[:average_scheduled_poll_interval] = interval
    end

    # Registers a block for a lifecycle event (see LIFECYCLE_EVENTS).
    def on(event, &block)
      registered_for(event) << block
    end

    # Runs the blocks registered for `event`. A failing block is reported to the error handlers
    # and the rest still run, unless `reraise` (startup: a broken boot must not serve jobs).
    # One-shot events forget their blocks once all have run, so firing again does nothing.
    def fire_event(event, reverse: false, reraise: false, oneshot: true)
      logger.debug("Firing #{event} event") if oneshot
      blocks = registered_for(event)
      (reverse ? blocks.reverse : blocks).each { |block| run_lifecycle_block(block, event, reraise) }
      blocks.clear if oneshot
    end

    # On Heroku (DYNO set) the platform stamps every line itself, so the lines carry no time.
    def logger
      @logger ||= Sidekiq::Logger.new($stdout, level: :info).tap do |log|
        log.formatter = Sidekiq::Logger::Formatters::WithoutTimestamp.new if ENV["DYNO"]
      end
    end

    # nil silences the current logger instead of dropping it, so whoever holds it keeps a
    # working (quiet) logger.
    def logger=(new_logger)
      case new_logger
      when nil then logger.level = ::Logger::FATAL
      else @logger = new_logger
      end
    end

    # Reports an exception to every error handler; a failing handler is logged, never raised.
    def handle_exception(exception, ctx = {})
      error_handlers.each do |handler|
        handler.arity == 2 ? handler.call(exception, ctx) : handler.call(exception, ctx, self)
      rescue Exception => e # rubocop:disable Lint/RescueException
        logger.error("!!! ERROR HANDLER THREW AN ERROR !!!")
        logger.error(e)
      end
    end

    def freeze!
      @options.freeze
      true
    end

    private

    def new_capsule(name)
      default_capsule unless name == "default" # the default one always comes first
      Capsule.new(name, self).tap { |cap| cap.queues = @options[:queues] if name == "default" }
    end

    def middleware_for(side)
      chain = (@middleware ||= {})[side] ||= Sidekiq::Middleware::Chain.new(self)
      yield chain if block_given?
      chain
    end

    def registered_for(event)
      raise ArgumentError, "Symbols only please: #{event}" unless event.is_a?(Symbol)

      @options[:lifecycle_events].fetch(event) { raise ArgumentError, "Invalid event name: #{event}" }
    end

    def run_lifecycle_block(block, event, reraise)
      block.call
    rescue StandardError => e
      handle_exception(e, { context: "Exception during Sidekiq lifecycle event.", event: })
      raise if reraise
    end

    def deep_dup(value)
      case value
      when Hash then value.transform_values { |item| deep_dup(item) }
      when Array, Set then value.dup
      else value
      end
    end
  end
end
