# frozen_string_literal: true

require "securerandom"
require "socket"

module Sidekiq
  # What Sidekiq's own parts share, for plugins that `include Sidekiq::Component` (their pollers,
  # middleware and web extensions): the configuration in `@config`, its logger, Redis and error
  # handlers, and the process's identity as the heartbeat writes it.
  module Component
    # One identity per process: a forked child gets its own, as its heartbeat does.
    IDENTITY_LOCK = Mutex.new
    @identities = {}

    class << self
      # "hostname:pid:nonce", the same for every component of this process (the launcher's
      # heartbeat key, the Busy page's row, `Sidekiq::Process#identity`).
      def identity
        pid = ::Process.pid
        IDENTITY_LOCK.synchronize { @identities[pid] ||= "#{hostname}:#{pid}:#{SecureRandom.hex(6)}" }
      end

      # Heroku names its dynos; its hostnames are random per boot.
      def hostname
        ENV["DYNO"] || Socket.gethostname
      end
    end

    attr_reader :config

    def logger
      config.logger
    end

    def redis(&)
      config.redis(&)
    end

    def handle_exception(exception, context = {})
      config.handle_exception(exception, context)
    end

    def fire_event(event, options = {})
      config.fire_event(event, reverse: options[:reverse] || false, reraise: options[:reraise] || false,
                               oneshot: options.fetch(:oneshot, true))
    end

    # Runs the block; an exception escaping it reaches the error handlers (with +last_words+ as
    # the context) before it ends the caller, so a dying background thread is never silent.
    def watchdog(last_words)
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException -- report anything that ends the thread
      handle_exception(e, { context: last_words })
      raise
    end

    # A named thread watched by #watchdog.
    def safe_thread(name, &block)
      Thread.new do
        Thread.current.name = "sidekiq.#{name}"
        watchdog(name, &block)
      end
    end

    # The thread id Sidekiq's log lines and work records carry.
    def tid
      Sidekiq.tid
    end

    def hostname
      Component.hostname
    end

    def identity
      Component.identity
    end

    # The random part of #identity.
    def process_nonce
      identity.split(":").last
    end
  end
end
