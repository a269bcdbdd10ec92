# frozen_string_literal: true

# A small but realistic Sidekiq app for bench/realistic.rb, loaded with -r by both servers
# (Ferrokiq's and Debian's Sidekiq 6.4.1) and by the pushing side: the initializer a user of the
# configuration guide writes (client and server middleware, a death handler, default job options,
# strict arguments, INFO logging to standard output plus a JSON log file), job classes whose bodies
# do 10-100 us of Ruby work, and one class that fails for a small share of its jobs.
#
# Log shape: Sidekiq.logger stays the default logger on standard output (the server's standard
# output goes to a file, as `sidekiq >> log/sidekiq.log` would), and a second logger,
# `Sidekiq::Logger.new(path)` with Sidekiq's JSON formatter, gets one structured line per job
# from the logging middleware (APP_LOG, only in the server).
#
# The last three things in this file (BenchCounter, the Redis marker, the death counter) are the
# benchmark's instrumentation, not the app.

require "json"
require "openssl"
require "securerandom"

if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
  Redis.silence_deprecations = true
  Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
end

module App
  class << self
    attr_accessor :job_log
  end
end

# Client middleware: every pushed job carries the request id of whoever enqueued it.
class StampRequestId
  def call(_job_class, job, _queue, _redis_pool)
    job["request_id"] ||= Thread.current[:request_id] || SecureRandom.uuid
    job["enqueued_from"] ||= "web"
    yield
  end
end

# Server middleware: reads the request id from the payload (setting one when missing) and makes
# it the thread's current request id and part of every log line's context.
class RequestContext
  def call(_job, job, _queue, &block)
    request_id = (job["request_id"] ||= SecureRandom.uuid)
    job["attempt"] = job.fetch("retry_count", -1) + 2
    Thread.current[:request_id] = request_id
    Sidekiq::Context.with(request_id: request_id, &block)
  ensure
    Thread.current[:request_id] = nil
  end
end

# Server middleware: a line before and after each job through Sidekiq.logger, and a structured
# line per job in the JSON log file.
class JobLogging
  def call(_job, job, queue)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    Sidekiq.logger.info("performing #{job["class"]} jid=#{job["jid"]} queue=#{queue} attempt=#{job["attempt"]}")
    outcome = "failed"
    yield
    outcome = "performed"
  ensure
    ms = ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000).round(3)
    Sidekiq.logger.info("#{outcome} #{job["class"]} in #{ms} ms")
    App.job_log&.info("#{outcome} class=#{job["class"]} jid=#{job["jid"]} request_id=#{job["request_id"]} ms=#{ms}")
  end
end

# --- benchmark instrumentation: counts first attempts (done or failed) and marks the last one.
class BenchCounter
  TOTAL = Integer(ENV.fetch("BENCH_JOBS", "0"))
  LOCK = Mutex.new
  @ok = 0
  @failed = 0

  class << self
    attr_accessor :ok, :failed
  end

  def call(_job, payload, _queue, &block)
    return yield if payload.key?("retry_count") # only first attempts are counted

    count(&block)
  end

  def count
    failed = true
    yield
    failed = false
  ensure
    counts = LOCK.synchronize do
      failed ? self.class.failed += 1 : self.class.ok += 1
      [self.class.ok, self.class.failed]
    end
    finish(*counts) if counts.sum == TOTAL
  end

  def finish(ok, failed)
    at = Process.clock_gettime(Process::CLOCK_REALTIME).to_s
    server = "#{Sidekiq::VERSION} #{defined?(Ferrokiq) ? "ferrokiq" : "sidekiq"}"
    Sidekiq.redis do |conn|
      conn.set("bench:counts", "#{ok} #{failed}")
      conn.set("bench:server", server)
      conn.set("bench:finished", at)
    end
  end
end

Sidekiq.strict_args!
if Sidekiq.respond_to?(:default_job_options=) # Sidekiq 7's name
  Sidekiq.default_job_options = { "retry" => 5, "backtrace" => 5 }
else # Sidekiq 6.4's name
  Sidekiq.default_worker_options = { "retry" => 5, "backtrace" => 5 }
end

Sidekiq.configure_client do |config|
  config.client_middleware { |chain| chain.add StampRequestId }
end

Sidekiq.configure_server do |config|
  config.logger.level = ENV.fetch("BENCH_LOG_LEVEL", "INFO")
  App.job_log = Sidekiq::Logger.new(ENV.fetch("APP_LOG", File::NULL)).tap do |logger|
    logger.formatter = Sidekiq::Logger::Formatters::JSON.new
    logger.level = Logger::INFO
  end
  config.client_middleware { |chain| chain.add StampRequestId }
  config.server_middleware do |chain|
    chain.add BenchCounter
    chain.add RequestContext
    chain.add JobLogging
  end
  config.death_handlers << lambda do |job, exception|
    Sidekiq.logger.warn("#{job["class"]} #{job["jid"]} died: #{exception.class}: #{exception.message}")
    Sidekiq.redis { |conn| conn.incr("bench:deaths") }
  end
end

# The job mix (see RealisticLoad): order receipts, report lines, digests and webhooks.

# ~15 us: a receipt as JSON, parsed back and checked.
class ReceiptJob
  include Sidekiq::Job

  def perform(order_id, order)
    receipt = { "order_id" => order_id, "customer" => order["customer"], "currency" => order["currency"],
                "lines" => order["items"].map { |sku, qty, cents| { "sku" => sku, "qty" => qty, "total" => qty * cents } } }
    receipt["total"] = receipt["lines"].sum { |line| line["total"] }
    parsed = JSON.parse(JSON.generate(receipt))
    raise "receipt mismatch" unless parsed["total"] == receipt["total"]

    parsed["lines"].map { |line| "#{line["sku"]}: #{line["qty"]} = #{line["total"]}" }.join("\n")
  end
end

# ~55 us: a text report built line by line.
class ReportLineJob
  include Sidekiq::Job

  def perform(order_id, order)
    out = +"Report for order #{order_id} (#{order["customer"]})\n"
    12.times do |row|
      order["items"].each do |sku, qty, cents|
        out << format("%-4d %-12s %4d x %8.2f %s\n", row, sku, qty, cents / 100.0, order["currency"])
      end
    end
    out << "-- #{out.bytesize} bytes\n"
    out.upcase.count("A")
  end
end

# ~80 us: many small allocations: rows built, grouped, sorted and summed.
class DigestJob
  include Sidekiq::Job

  def perform(customer_id, order)
    rows = Array.new(90) do |i|
      sku, qty, cents = order["items"][i % order["items"].size]
      { sku: "#{sku}-#{i % 7}", qty: qty + (i % 3), cents: cents, day: i % 14 }
    end
    by_day = rows.group_by { |row| row[:day] }
    digest = by_day.sort.map do |day, day_rows|
      [day, day_rows.sum { |row| row[:qty] * row[:cents] }, day_rows.map { |row| row[:sku] }.uniq.size]
    end
    digest.max_by { |_, total, _| total } << customer_id
  end
end

# ~12 us (JSON and an HMAC signature); the jobs pushed with "fail" raise (1% of the load). A failed
# delivery is retried an hour later, so no retry runs during a benchmark.
class WebhookJob
  include Sidekiq::Job
  sidekiq_retry_in { |_count, _exception| 3600 }

  class DeliveryError < StandardError; end
  SECRET = "whsec_0123456789abcdef"

  def perform(order_id, order)
    body = JSON.generate("event" => "order.paid", "order_id" => order_id, "order" => order)
    signature = OpenSSL::HMAC.hexdigest("SHA256", SECRET, body)
    raise DeliveryError, "endpoint returned 503 (signature #{signature[0, 8]})" if order["fail"]
  end
end

# The load both servers drain, pushed through the client middleware: job i's class and args
# depend only on i. Of each 10 jobs, 4 ReceiptJob, 3 ReportLineJob, 2 DigestJob, 1 WebhookJob;
# every tenth WebhookJob fails, with retry 1 (it waits in the retry set) or retry 0 (it dies at
# once, through the death handler), alternating.
module RealisticLoad
  CLASSES = [ReceiptJob, ReceiptJob, ReceiptJob, ReceiptJob, ReportLineJob, ReportLineJob, ReportLineJob,
             DigestJob, DigestJob, WebhookJob].freeze
  ITEMS = [["sku-apple", 2, 150], ["sku-bread", 1, 320], ["sku-cheese", 3, 899], ["sku-dates", 1, 450]].freeze

  module_function

  def order(index)
    { "customer" => "cust-#{index % 997}", "currency" => "EUR", "items" => ITEMS.first(2 + (index % 3)).map(&:dup) }
  end

  def failing?(index)
    CLASSES[index % 10] == WebhookJob && (index / 10) % 10 == 0
  end

  def retry_for(index)
    (index / 100).even? ? 1 : 0
  end

  # [ok, failed, dead, retried] after every first attempt ran.
  def expected(count)
    failing = (0...count).select { |i| failing?(i) }
    dead = failing.count { |i| retry_for(i).zero? }
    [count - failing.size, failing.size, dead, failing.size - dead]
  end

  def push(count, client: Sidekiq::Client.new)
    (0...count).each_slice(1000) do |slice|
      slice.group_by { |i| [CLASSES[i % 10], failing?(i) ? retry_for(i) : nil] }.each do |(klass, retries), indexes|
        args = indexes.map { |i| [i, retries ? order(i).merge("fail" => true) : order(i)] }
        batch = { "class" => klass, "args" => args }
        batch["retry"] = retries if retries
        client.push_bulk(batch)
      end
    end
  end
end
