# frozen_string_literal: true

require "ferrokiq"

module Sidekiq
  # sd_notify(3): state changes sent to the service manager as datagrams on the socket named by
  # NOTIFY_SOCKET (systemd sets it for `Type=notify` units). Without NOTIFY_SOCKET every call
  # does nothing and returns nil. `unset_env` removes NOTIFY_SOCKET, so child processes do not
  # speak for this one. The datagrams are written by the core (`Ferrokiq::Native.sd_notify`),
  # which also sends the server's watchdog pings (docs/design.md, §21.3).
  module SdNotify
    class NotifyError < RuntimeError; end

    READY = "READY=1"
    RELOADING = "RELOADING=1"
    STOPPING = "STOPPING=1"
    STATUS = "STATUS="
    ERRNO = "ERRNO="
    MAINPID = "MAINPID="
    WATCHDOG = "WATCHDOG=1"
    FDSTORE = "FDSTORE=1"

    module_function

    def ready(unset_env = false) # rubocop:disable Style/OptionalBooleanParameter -- Sidekiq's signature
      notify(READY, unset_env)
    end

    def reloading(unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify(RELOADING, unset_env)
    end

    def stopping(unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify(STOPPING, unset_env)
    end

    def status(text, unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify("#{STATUS}#{text}", unset_env)
    end

    def errno(number, unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify("#{ERRNO}#{number}", unset_env)
    end

    def mainpid(pid, unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify("#{MAINPID}#{pid}", unset_env)
    end

    def watchdog(unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify(WATCHDOG, unset_env)
    end

    def fdstore(unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      notify(FDSTORE, unset_env)
    end

    # Whether systemd expects watchdog pings from this process: WATCHDOG_USEC is a positive
    # number and WATCHDOG_PID, when set, is this process.
    def watchdog?
      !watchdog_usec.nil?
    end

    # The watchdog timeout in microseconds, or nil when there is none for this process.
    def watchdog_usec
      usec = Integer(ENV.fetch("WATCHDOG_USEC", ""), exception: false)
      return unless usec&.positive?

      owner = ENV.fetch("WATCHDOG_PID", nil)
      usec if owner.nil? || owner == ::Process.pid.to_s
    end

    # Sends +state+; the number of bytes sent, or nil without NOTIFY_SOCKET. A name starting
    # with "@" is a socket in the abstract namespace, as sd_notify(3) reads it.
    def notify(state, unset_env = false) # rubocop:disable Style/OptionalBooleanParameter
      path = ENV.fetch("NOTIFY_SOCKET", nil)
      return if path.nil? || path.empty?

      ENV.delete("NOTIFY_SOCKET") if unset_env
      Ferrokiq::Native.sd_notify(path, state.to_s)
    rescue IOError => e
      raise NotifyError, "cannot notify systemd at #{path}: #{e.message}"
    end
  end
end
