# frozen_string_literal: true

module Ferrokiq
  # The operations endpoint: Prometheus metrics (`/metrics`) and health checks (`/live`,
  # `/ready`), served by a thread of the core with no Ruby on the request path
  # (docs/design.md, §21). Off unless a port is configured:
  #
  #   # sidekiq.yml
  #   metrics:
  #     port: 9394
  #     bind: 127.0.0.1      # the default; 0.0.0.0 to be reachable from outside the host
  #
  # or `config[:metrics] = { port: 9394 }` in `Sidekiq.configure_server`, or the environment
  # variables FERROKIQ_METRICS_PORT and FERROKIQ_METRICS_BIND, which win over both.
  module Operations
    DEFAULT_BIND = "127.0.0.1"
    PORT_ENV = "FERROKIQ_METRICS_PORT"
    BIND_ENV = "FERROKIQ_METRICS_BIND"

    module_function

    # Starts the endpoint when configured; the running handle (`#stop`, `#address`), or nil. A
    # bad setting or a port that cannot be bound is reported, and the server runs on without
    # the endpoint (it is started once the jobs are running; taking them down for it would
    # cost more than the missing metrics).
    def start(config, engine, env = ENV)
      settings = settings(config, env)
      return unless settings

      endpoint = Native::Operations.new(engine, settings[:bind], settings[:port])
      config.logger.info("Metrics at http://#{endpoint.address}/metrics, health checks at /live and /ready")
      endpoint
    rescue IOError, ArgumentError => e
      config.logger.error("#{e.message}; running without the metrics endpoint")
      config.handle_exception(e, { context: "metrics endpoint" })
      nil
    end

    # `{ bind:, port: }` from the environment or `config[:metrics]` (symbol or string keys),
    # or nil when no port is set. Raises ArgumentError for a port that is not one.
    def settings(config, env = ENV)
      section = config[:metrics] || {}
      unless section.is_a?(Hash)
        raise ArgumentError, "metrics: must be a Hash with port: and bind:, got #{section.inspect}"
      end

      port = present(env[PORT_ENV]) || section[:port] || section["port"]
      return if port.nil?

      bind = present(env[BIND_ENV]) || section[:bind] || section["bind"] || DEFAULT_BIND
      number = Integer(port.to_s, 10)
      raise ArgumentError, "metrics port #{port.inspect} is not between 0 and 65535" unless (0..65_535).cover?(number)

      { bind: bind.to_s, port: number }
    end

    def present(value)
      value unless value.nil? || value.strip.empty?
    end
  end
end
