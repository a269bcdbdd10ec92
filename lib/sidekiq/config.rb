# frozen_string_literal: true

require "forwardable"
require "set"

module Sidekiq
  # The settings of one Sidekiq "instance": options, Redis, middleware, handlers and lifecycle
  # events. `Sidekiq.default_configuration` is the one `configure_client`/`configure_server`
  # yield.
  class Config
    extend Forwardable

    # Mutable on purpose: Sidekiq.strict_args! changes it for every configuration, as in Sidekiq 7.
    DEFAULTS = { # rubocop:disable Style/MutableConstant
      labels: Set.new,
      require: ".",
      environment: nil,
      concurrency: 5,
      timeout: 25,
      queues: ["default"],
      fetch: :reliable,
      poll_interval_average: nil,
      average_scheduled_poll_interval: 5,
      on_complex_arguments: :raise,
      error_handlers: [],
      death_handlers: [],
      lifecycle_events: { startup: [], quiet: [], shutdown: [], heartbeat: [], beat: [] },
      dead_max_jobs: 10_000,
      dead_timeout_in_seconds: 180 * 24 * 60 * 60,
      reloader: proc { |&block| block.call },
      backtrace_cleaner: ->(backtrace) { backtrace }
    }

    # Logs what went wrong and where, as Sidekiq's default error handler does.
    ERROR_HANDLER = lambda do |ex, ctx, cfg = Sidekiq.default_configuration|
      logger = cfg.logger
      logger.warn(Sidekiq.dump_json(ctx)) unless ctx.empty?
      logger.warn("#{ex.class.name}: #{ex.message}")
      logger.warn(cfg[:backtrace_cleaner].call(ex.backtrace).join("\n")) unless ex.backtrace.nil?
    end

    def_delegators :@options, :[], :[]=, :fetch, :key?, :has_key?, :merge!, :dig

    def initialize(options = {})
      @options = deep_dup(DEFAULTS).merge(options)
      @options[:error_handlers] << ERROR_HANDLER if @options[:error_handlers].empty?
      @redis_config = {}
      @redis_pool = nil
    end

    def inspect
      shown = @options.except(:lifecycle_events, :reloader, :death_handlers, :error_handlers)
      "#<#{self.class.name} @options=#{shown.inspect}>"
    end

    def to_json(*)
      Sidekiq.dump_json(@options)
    end

    def concurrency
      @options[:concurrency]
    end

    def concurrency=(val)
      @options[:concurrency] = Integer(val)
    end

    def total_concurrency
      concurrency
    end

    # Queue names in configuration order.
    def queues
      queue_weights.map(&:first).uniq
    end

    # Accepts what `-q` and sidekiq.yml accept: "name", "name,weight" or [name, weight].
    def queues=(val)
      @options[:queues] = Array(val)
    end

    # [[name, weight], ...]; weight 0 everywhere means strict priority order.
    def queue_weights
      Array(@options[:queues]).map do |entry|
        name, weight = entry.is_a?(String) ? entry.split(",", 2) : Array(entry)
        [name.to_s.strip, weight.to_i]
      end
    end

    def client_middleware
      @client_chain ||= Sidekiq::Middleware::Chain.new(self)
      yield @client_chain if block_given?
      @client_chain
    end

    def server_middleware
      @server_chain ||= Sidekiq::Middleware::Chain.new(self)
      yield @server_chain if block_given?
      @server_chain
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

    # Registers a block for a lifecycle event (:startup, :quiet, :shutdown, :heartbeat, :beat).
    def on(event, &block)
      raise ArgumentError, "Symbols only please: #{event}" unless event.is_a?(Symbol)
      raise ArgumentError, "Invalid event name: #{event}" unless @options[:lifecycle_events].key?(event)

      @options[:lifecycle_events][event] << block
    end

    # Runs the blocks registered for a lifecycle event; one-shot events run once.
    def fire_event(event, reverse: false, reraise: false, oneshot: true)
      logger.debug("Firing #{event} event") if oneshot
      blocks = @options[:lifecycle_events][event]
      blocks.reverse! if reverse
      blocks.each do |block|
        block.call
      rescue StandardError => e
        handle_exception(e, { context: "Exception during Sidekiq lifecycle event.", event: })
        raise e if reraise
      end
      blocks.clear if oneshot
    end

    def logger
      @logger ||= Sidekiq::Logger.new($stdout, level: :info)
    end

    def logger=(logger)
      if logger.nil?
        self.logger.level = ::Logger::FATAL
        return
      end
      @logger = logger
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

    def deep_dup(value)
      case value
      when Hash then value.transform_values { |item| deep_dup(item) }
      when Array, Set then value.dup
      else value
      end
    end
  end
end
