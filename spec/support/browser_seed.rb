# frozen_string_literal: true

require "securerandom"
require "zlib"
require "sidekiq/api"

# Puts the data the browser examples look at into Redis: through Ferrokiq's public API where it
# has a way in (Sidekiq::Client, DeadSet#kill), else in Sidekiq's own format (docs/wire-format.md),
# as a running Sidekiq would have written it (failed jobs waiting in the retry set, processes
# and what their threads run).
module BrowserSeed
  # Markup that runs script if the UI ever prints job data without escaping it: it sets
  # window.__x or window.__y, or opens an alert.
  module Hostile
    IMG = "<img src=x onerror=window.__x=1>"
    SCRIPT = "<script>window.__y=1</script>"
    ALERT = "<svg onload=alert(document.domain)>"
  end
  # An argument long enough for the queue page to cut it short behind its expander.
  LONG_ARG = "long-argument-#{"x" * 400}-end".freeze
  BACKTRACE = ["app/jobs/report_job.rb:12:in `perform'", "lib/reports/builder.rb:40:in `build'"].freeze

  # Pushes a job; returns its jid.
  def enqueue(klass, *args, queue: "default")
    Sidekiq::Client.push("class" => klass, "args" => args, "queue" => queue)
  end

  # Schedules a job +delay+ seconds from now; returns its jid.
  def schedule(klass, *args, delay: 3600)
    Sidekiq::Client.push("class" => klass, "args" => args, "at" => Time.now.to_f + delay)
  end

  # A failed job waiting for its next attempt in +delay+ seconds, as the server's retry path
  # stores it; returns its jid.
  def add_retry(klass, *args, error: "connection refused", error_class: "IOError", delay: 600)
    job = failed_job(klass, args, error, error_class)
    redis("ZADD", "retry", (Time.now.to_f + delay).to_s, Sidekiq.dump_json(job))
    job["jid"]
  end

  # A job that ran out of retries, in the dead set; returns its jid.
  def add_dead(klass, *args, error: "gave up", error_class: "RuntimeError")
    job = failed_job(klass, args, error, error_class).merge("retry_count" => 25)
    Sidekiq::DeadSet.new.kill(Sidekiq.dump_json(job), notify_failure: false)
    job["jid"]
  end

  # A live server process (as its heartbeat writes it) with +jobs+ running, one per thread:
  # [[queue, class, args], ...].
  def add_process(hostname, pid, jobs: [], quiet: false)
    identity = "#{hostname}:#{pid}:#{SecureRandom.hex(6)}"
    info = { "hostname" => hostname, "pid" => pid, "tag" => "shop", "labels" => ["blue"], "concurrency" => 10,
             "queues" => %w[critical default], "started_at" => Time.now.to_f - 3600, "identity" => identity,
             "version" => Sidekiq::VERSION, "embedded" => false }
    redis("SADD", "processes", identity)
    redis("HSET", identity, "info", Sidekiq.dump_json(info), "busy", jobs.size.to_s, "beat", Time.now.to_f.to_s,
          "quiet", quiet.to_s, "rss", "204800", "rtt_us", "150")
    jobs.each_with_index { |(queue, klass, args), index| add_work(identity, "t#{index}", queue, klass, args) }
    identity
  end

  # One busy thread of a process.
  def add_work(identity, tid, queue, klass, args)
    payload = Sidekiq.dump_json("class" => klass, "args" => args, "queue" => queue, "jid" => SecureRandom.hex(12),
                                "created_at" => Time.now.to_f - 5, "enqueued_at" => Time.now.to_f - 4)
    work = { "queue" => queue, "payload" => payload, "run_at" => Time.now.to_i - 3 }
    redis("HSET", "#{identity}:work", tid, Sidekiq.dump_json(work))
  end

  # A bit of everything, for the pages' screenshots and the layout checks.
  def seed_world
    enqueue("InvoiceJob", 1001, "eur")
    enqueue("InvoiceJob", 1002, "usd")
    enqueue("ExportJob", LONG_ARG)
    enqueue("AlertJob", "disk full", queue: "critical")
    3.times { |index| add_retry("ReportJob", index) }
    2.times { |index| schedule("DigestJob", index, delay: 600 * (index + 1)) }
    add_dead("SyncJob", "acct-9")
    add_process("worker-1.example", 4101, jobs: [%w[default InvoiceJob] + [[1003]]])
    add_process("worker-2.example", 4102, jobs: [["critical", "AlertJob", ["cpu"]]])
  end

  def redis(*command)
    Sidekiq.redis { |conn| conn.call(*command) }
  end

  private

  def failed_job(klass, args, error, error_class)
    now = Time.now.to_f
    { "class" => klass, "args" => args, "queue" => "default", "retry" => true, "jid" => SecureRandom.hex(12),
      "created_at" => now - 120, "enqueued_at" => now - 119, "failed_at" => now - 110, "retried_at" => now - 30,
      "retry_count" => 2, "error_class" => error_class, "error_message" => error,
      "error_backtrace" => [Zlib::Deflate.deflate(Sidekiq.dump_json(BACKTRACE))].pack("m0") }
  end
end
