# frozen_string_literal: true

module Ferrokiq
  # Base class of every error Ferrokiq raises itself.
  class Error < StandardError; end

  # A Redis option (URL, timeout, ...) that cannot be used.
  class ConfigurationError < Error; end

  # Anything that went wrong talking to Redis. Sidekiq 7 code that rescues
  # Sidekiq::RedisClientAdapter::BaseError rescues this.
  class RedisError < Error; end

  # The connection broke, or could not be made.
  class ConnectionError < RedisError; end

  # No connection could be opened: server down, unreachable, wrong port.
  class CannotConnectError < ConnectionError; end

  # The server refused the username or password.
  class AuthenticationError < CannotConnectError; end

  # No answer within the configured network timeout.
  class TimeoutError < ConnectionError; end

  # The server answered a command with an error reply (WRONGTYPE, ERR ...).
  class CommandError < RedisError; end
end
