# frozen_string_literal: true

require_relative "redis_server"

# One redis-server for the whole RSpec run, on a free port, named by REDIS_URL before Sidekiq
# is loaded: nothing needs a server already running.
REDIS = RedisServer.new.start
ENV["REDIS_URL"] = REDIS.url
ENV.delete("REDIS_PROVIDER")
at_exit { REDIS.destroy }
