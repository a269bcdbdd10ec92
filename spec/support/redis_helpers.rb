# frozen_string_literal: true

# Reads what the client wrote, straight from Redis.
module RedisHelpers
  def queue_jobs(queue = "default")
    Sidekiq.redis { |conn| conn.lrange("queue:#{queue}", 0, -1) }.map { |json| JSON.parse(json) }
  end

  def raw_queue(queue = "default")
    Sidekiq.redis { |conn| conn.lrange("queue:#{queue}", 0, -1) }
  end

  # [[payload Hash, score Float], ...] in score order.
  def scheduled_jobs
    Sidekiq.redis { |conn| conn.zrange("schedule", 0, -1, "WITHSCORES") }.map do |json, score|
      [JSON.parse(json), score]
    end
  end

  def known_queues
    Sidekiq.redis { |conn| conn.smembers("queues") }.sort
  end

  # How many times the server ran +command+ (lower case) since it started, as `INFO
  # commandstats` counts it (refused calls are not counted).
  def command_calls(command)
    Sidekiq.redis { |conn| conn.call("INFO", "commandstats") }[/^cmdstat_#{command}:calls=(\d+)/, 1].to_i
  end
end

RSpec.configure { |config| config.include RedisHelpers }
