# frozen_string_literal: true

module Ferrokiq
  # Sidekiq::Client's pushes through a pool of another Redis client (redis-rb connections
  # handed to `Client.via` or `Client.new(pool:)`): the commands Ferrokiq's native connection
  # sends, through that client's pipelined API.
  module ForeignPush
    private

    # As the native path does: the score carries `at`, and enqueued_at is left for the
    # poller to set when the job reaches its queue (Active Job fills it in early).
    def pipe_to_schedule(pipe, payloads)
      scored = payloads.flat_map do |job|
        job.delete("enqueued_at")
        [job["at"].to_s, Sidekiq.dump_json(job.except("at"))]
      end
      pipe.zadd("schedule", scored)
    end

    def pipe_to_queue(pipe, payloads)
      queue = payloads.first["queue"]
      stamp = Time.now.to_f
      jsons = payloads.map { |job| Sidekiq.dump_json(job.merge!("enqueued_at" => stamp)) }
      pipe.sadd("queues", [queue])
      pipe.lpush("queue:#{queue}", jsons)
    end
  end
end
