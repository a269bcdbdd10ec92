# frozen_string_literal: true

require "json"
require "securerandom"

# The data bench/web.rb shows: SIZE entries in each of retry, schedule and dead, SIZE jobs in
# queue:default (plus a few small queues), PROCESSES processes with BUSY_PER_PROCESS busy
# threads each. Raw Sidekiq-format payloads written with pipelined commands of 1,000 members;
# the job keys are then DUMPed so that each bulk action starts from the same data (RESTORE).
module WebSeed
  CHUNK = 1_000
  BASE_TIME = 1_760_000_000
  SMALL_QUEUES = %w[critical mailers low].freeze
  JOB_KEYS = %w[retry schedule dead queue:default].freeze
  # Each 50th job carries this word in its arguments: what the benchmark's filter looks for.
  NEEDLE = "needle-7f3a"

  module_function

  def job(index, queue: "default", error: false)
    args = [index, "user-#{index}@example.com", { "plan" => (index % 50).zero? ? NEEDLE : "basic" }]
    job = { "retry" => true, "queue" => queue, "class" => "Bench::NotifyJob", "args" => args,
            "jid" => format("%024x", index + 1), "created_at" => BASE_TIME - 600.0,
            "enqueued_at" => BASE_TIME - 300.0 }
    return job unless error

    job.merge("error_message" => "connection refused (#{index % 7})", "error_class" => "Errno::ECONNREFUSED",
              "failed_at" => BASE_TIME - 200.0, "retry_count" => index % 5, "retried_at" => BASE_TIME - 100.0)
  end

  # The entry key ("<score>-<jid>") of the +index+th retry.
  def retry_key(index)
    "#{Float(BASE_TIME + index)}-#{format("%024x", index + 1)}"
  end

  def seed(redis, size:, processes:, busy_per_process:)
    redis.with do |conn|
      conn.call("FLUSHDB")
      sorted_set(conn, "retry", size, error: true)
      sorted_set(conn, "schedule", size, error: false)
      sorted_set(conn, "dead", size, error: true)
      queue(conn, "default", size)
      SMALL_QUEUES.each { |name| queue(conn, name, 10) }
      processes(conn, processes, busy_per_process)
      JOB_KEYS.to_h { |key| [key, conn.call("DUMP", key)] }
    end
  end

  # Puts the job keys back as seeded.
  def restore(redis, dumps)
    redis.with do |conn|
      conn.pipelined do |pipe|
        dumps.each { |key, dump| pipe.call("RESTORE", key, 0, dump, "REPLACE") }
        pipe.call("SADD", "queues", "default", *SMALL_QUEUES)
      end
    end
  end

  def sorted_set(conn, key, size, error:)
    (0...size).each_slice(CHUNK).each_slice(50) do |chunks|
      conn.pipelined do |pipe|
        chunks.each do |indexes|
          members = indexes.flat_map { |i| [(BASE_TIME + i).to_s, JSON.generate(job(i, error:))] }
          pipe.call("ZADD", key, *members)
        end
      end
    end
  end

  def queue(conn, name, size)
    conn.call("SADD", "queues", name)
    (0...size).each_slice(CHUNK).each_slice(50) do |chunks|
      conn.pipelined do |pipe|
        chunks.each do |indexes|
          pipe.call("LPUSH", "queue:#{name}", *indexes.map { |i| JSON.generate(job(i, queue: name)) })
        end
      end
    end
  end

  # Heartbeats as a Sidekiq 7 process writes them; the running jobs in both `<identity>:work`
  # (7.x, read by Ferrokiq) and `<identity>:workers` (6.4, read by Sidekiq 6.4.1).
  def processes(conn, count, busy)
    now = Time.now.to_f
    conn.pipelined do |pipe|
      count.times do |n|
        identity = "bench-host-#{n}:#{1000 + n}:#{SecureRandom.hex(6)}"
        info = { "hostname" => "bench-host-#{n}", "started_at" => now - 3600, "pid" => 1000 + n, "tag" => "bench",
                 "concurrency" => busy, "queues" => %w[default critical], "labels" => [], "identity" => identity }
        pipe.call("SADD", "processes", identity)
        pipe.call("HSET", identity, "info", JSON.generate(info), "busy", busy.to_s, "beat", now.to_s,
                  "quiet", "false", "rss", "204800", "rtt_us", "150")
        work = (0...busy).flat_map do |t|
          payload = JSON.generate(job((n * busy) + t).merge("enqueued_at" => now - 5))
          ["tid-#{t.to_s(36)}", JSON.generate("queue" => "default", "payload" => payload, "run_at" => now.to_i - t)]
        end
        pipe.call("HSET", "#{identity}:work", *work)
        pipe.call("HSET", "#{identity}:workers", *work)
      end
    end
  end
end
