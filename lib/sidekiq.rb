# frozen_string_literal: true

# Ferrokiq's drop-in entry point: `require "sidekiq"` gives Sidekiq 7's public API, backed by
# Ferrokiq's Rust core.

# Before anything else: refuses to load beside the real sidekiq gem.
require "ferrokiq/sidekiq_gem_check"
require "sidekiq/version"
# Loaded already when the app required "ferrokiq" first (Bundler.require with `gem "ferrokiq"`).
require "ferrokiq" unless defined?(::Ferrokiq::Native)
require "sidekiq/logger"
require "sidekiq/redis_connection"
require "sidekiq/middleware/chain"
require "sidekiq/config"
require "sidekiq/client"
require "sidekiq/transaction_aware_client"
require "sidekiq/job"
require "sidekiq/iterable_job"

# Sidekiq's top-level API: configuration, Redis access and JSON helpers.
module Sidekiq
  NAME = "Sidekiq"
  LICENSE = "Ferrokiq is MIT-licensed; see LICENSE"

  # Raised inside jobs that are still running when a shutdown's timeout expires. Job code
  # must not rescue it.
  class Shutdown < Interrupt; end

  class << self
    def server?
      defined?(Sidekiq::CLI) ? true : false
    end

    def load_json(string)
      JSON.parse(string)
    end

    # JSON.generate, byte for byte; written in Rust when the value allows it.
    def dump_json(object)
      Ferrokiq::Native.dump_json(object)
    end

    # Sidekiq's API level as a Gem::Version, for plugins that compare versions.
    def gem_version
      Gem::Version.new(VERSION)
    end

    def pro?
      false
    end

    def ent?
      false
    end

    def redis_pool
      default_configuration.redis_pool
    end

    # Yields a Redis connection: `Sidekiq.redis { |conn| conn.call("PING") }`.
    def redis(&block)
      default_configuration.redis(&block)
    end

    # Makes pushes with non-JSON-native args raise (:raise, the default), warn (:warn) or pass
    # (false).
    def strict_args!(mode = :raise)
      Sidekiq::Config::DEFAULTS[:on_complex_arguments] = mode
    end

    def default_job_options=(hash)
      @default_job_options = default_job_options.merge(hash.transform_keys(&:to_s)).freeze
    end

    def default_job_options
      @default_job_options ||= { "retry" => true, "queue" => "default" }.freeze
    end

    def default_configuration
      @default_configuration ||= Sidekiq::Config.new
    end

    def logger
      default_configuration.logger
    end

    def logger=(logger)
      default_configuration.logger = logger
    end

    # The block runs at once in a Sidekiq server process; it is also kept for the instances
    # `configure_embed` makes later, which are servers too.
    def configure_server(&block)
      (@server_blocks ||= []) << block
      yield default_configuration if server?
    end

    # A server inside this process (a Puma worker, a script), sharing the default configuration:
    # two worker threads unless the block says otherwise, then the `configure_server` blocks,
    # then the block. Returns a Sidekiq::Embedded to `run`, `quiet` and `stop`. Only one per
    # process, created before any server runs (docs/design.md, §18).
    def configure_embed
      raise "Sidekiq's configuration is frozen: create the embedded instance before a server runs" if @frozen

      require "sidekiq/embedded"
      config = default_configuration
      config.concurrency = Embedded::CONCURRENCY
      @server_blocks&.each { |block| block.call(config) }
      yield config
      Embedded.new(config)
    end

    # A running server's settings no longer change: the launcher calls this as it starts.
    def freeze!
      @frozen = true
      @server_blocks = nil
      default_configuration.freeze!
    end

    # The block runs only outside a Sidekiq server process.
    def configure_client
      yield default_configuration unless server?
    end
  end
end

# Periodic jobs: sidekiq-scheduler's configuration and API, built in.
require "ferrokiq/periodic"

# In a Rails app: the Railtie (Active Job options, the reloader around jobs, Rails' logger and
# backtrace cleaner in the server), as with Sidekiq.
require "sidekiq/rails" if defined?(::Rails::Railtie)
