# frozen_string_literal: true

module Ferrokiq
  # Stands where Sidekiq has a ConnectionPool of Redis clients. The Rust core multiplexes one
  # connection per process (reopened after fork), so `with` hands out the same thread-safe
  # connection object; `size` is kept because Sidekiq users and their code read it.
  class RedisPool
    DEFAULT_TIMEOUT = 3.0
    DEFAULT_SIZE = 5
    # Options accepted for compatibility that have no meaning for a multiplexed connection.
    IGNORED = %i[logger pool_name pool_timeout name id driver reconnect_attempts
                 cluster_safe connect_timeout read_timeout write_timeout].freeze

    attr_reader :size, :native

    # Redis options as Sidekiq 6/7 users write them: url (or host/port/path), db, username,
    # password (a String or a callable), timeout / network_timeout, size / pool_size.
    def initialize(options = {})
      opts = symbolize(options)
      reject_unsupported(opts)
      @size = Integer(opts[:size] || opts[:pool_size] || DEFAULT_SIZE)
      url = url_from(opts)
      @native = Native::Redis.new(
        url, opts[:username]&.to_s, password_from(opts),
        opts[:db]&.then { |db| Integer(db) }, timeout_from(opts), tls_from(opts, url)
      )
      @connection = RedisConnection.new(@native)
    end

    def with(**_options)
      yield @connection
    end
    alias then with

    # The server's URL with any password replaced by REDACTED.
    def url
      @native.url
    end

    def available
      @size
    end

    def shutdown(&_block); end

    def reload(&_block); end

    def inspect
      "#<#{self.class.name} #{url} size=#{@size}>"
    end

    private

    def symbolize(options)
      options.to_h.transform_keys(&:to_sym)
    end

    def reject_unsupported(opts)
      if opts[:namespace]
        raise ArgumentError, "Your Redis configuration uses the namespace '#{opts[:namespace]}' " \
                             "but this feature is not supported by Sidekiq 7+ (nor Ferrokiq)."
      end
      raise ArgumentError, "Sidekiq 7+ does not support Redis protocol 2" if opts[:protocol] == 2
      raise ConfigurationError, "Redis Sentinel is not supported by Ferrokiq" if opts[:sentinels]
      raise ConfigurationError, "Redis Cluster is not supported by Ferrokiq" if opts[:nodes]
    end

    def url_from(opts)
      return opts[:url].to_s if opts[:url]
      return "unix://#{opts[:path]}" if opts[:path]

      "redis://#{opts[:host] || "localhost"}:#{opts[:port] || 6379}"
    end

    def password_from(opts)
      password = opts[:password]
      password = password.call(opts[:username]) if password.respond_to?(:call)
      password&.to_s
    end

    # nil, or [verify?, CA PEM, client certificate PEM, client key PEM] from `ssl: true` /
    # `rediss://` and redis-client's `ssl_params` (verify_mode, ca_file, cert, key).
    def tls_from(opts, url)
      return unless opts[:ssl] || url.start_with?("rediss:")

      params = opts[:ssl_params].to_h.transform_keys(&:to_sym)
      raise ConfigurationError, "ssl_params: ca_path is not supported; use ca_file" if params[:ca_path]

      verify = params[:verify_mode].nil? || params[:verify_mode] != 0 # OpenSSL::SSL::VERIFY_NONE
      [verify, params[:ca_file] && File.read(params[:ca_file]), pem(params[:cert]), pem(params[:key])]
    end

    # A certificate or key given as an OpenSSL object, a PEM String or a path to a PEM file.
    def pem(value)
      return if value.nil?
      return value.to_pem if value.respond_to?(:to_pem)

      value.include?("-----BEGIN") ? value : File.read(value)
    end

    def timeout_from(opts)
      Float(opts[:timeout] || opts[:network_timeout] || DEFAULT_TIMEOUT)
    end
  end
end
