# frozen_string_literal: true

require "sidekiq/sd_notify"

module Sidekiq
  # What a server tells systemd when it runs as a `Type=notify` unit: READY=1 once it processes
  # jobs, a STATUS= line, STOPPING=1 when it shuts down, and with `WatchdogSec=` a WATCHDOG=1
  # ping at half that period. The pings come from a thread of the core that sends them only
  # while the process is live by the test `/live` uses (the engine thread runs its tasks and the
  # launcher's upkeep loop ticks; docs/design.md, §21), so that systemd restarts a wedged process
  # rather than one whose Redis is away.
  class Systemd
    # Starts the integration when systemd asked for notifications; nil otherwise.
    def self.start(config, launcher)
      return unless ENV["NOTIFY_SOCKET"]

      new(config, launcher).tap(&:start)
    end

    def initialize(config, launcher)
      @config = config
      @launcher = launcher
    end

    def start
      socket = ENV.fetch("NOTIFY_SOCKET")
      @config.logger.info("systemd: notifying #{socket}")
      tell { SdNotify.ready }
      queues = @config.queues.uniq.join(", ")
      tell { SdNotify.status("processing with #{@config.total_concurrency} threads, queues #{queues}") }
      usec = SdNotify.watchdog_usec
      @watchdog = start_watchdog(socket, usec / 2_000_000.0) if usec
    end

    def quiet
      tell { SdNotify.status("quiet: finishing running jobs, taking no new ones") }
    end

    def stopping
      @watchdog&.stop
      tell { SdNotify.stopping }
    end

    private

    def start_watchdog(socket, period)
      @config.logger.info("systemd: watchdog ping every #{period.round(2)} s while the process makes progress")
      Ferrokiq::Native::Watchdog.new(@launcher.engine, socket, period)
    rescue IOError => e
      @config.handle_exception(e, { context: "systemd notification" })
      nil
    end

    # A notification that cannot be sent is reported, never fatal to the server.
    def tell
      yield
    rescue SdNotify::NotifyError => e
      @config.handle_exception(e, { context: "systemd notification" })
    end
  end
end
