# frozen_string_literal: true

require "json"
require "net/http"

# What apps wrote before the built-in endpoint existed keeps working beside it: a hand-written
# Prometheus-style server middleware (timing jobs by status, counting failures by error class)
# and a health monitor over the Data API, as configuration guides show them.
RSpec.describe "hand-written metrics and health code beside the built-in endpoint" do
  let(:jobs) { <<~RUBY }
    require "sidekiq/api"

    # Keeps its own counters and publishes them to Redis after each job.
    class PrometheusMiddleware
      include Sidekiq::ServerMiddleware

      def call(job, payload, queue)
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        status = "success"
        yield
      rescue StandardError => e
        status = "failure"
        redis { |conn| conn.hincrby("user:failures", "\#{payload["class"]}|\#{e.class}", 1) }
        raise
      ensure
        elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
        redis do |conn|
          conn.hincrby("user:durations", "\#{payload["class"]}|\#{queue}|\#{status}", 1)
          conn.hincrbyfloat("user:seconds", payload["class"], elapsed)
        end
      end
    end

    # Reads the cluster's health through the Data API.
    class HealthMonitor
      def report
        stats = Sidekiq::Stats.new
        { "processes" => Sidekiq::ProcessSet.new.size, "enqueued" => stats.enqueued,
          "dead" => stats.dead_size, "default_latency" => Sidekiq::Queue.new.latency.round(3) }
      end
    end

    Sidekiq.configure_server do |config|
      config.server_middleware { |chain| chain.add(PrometheusMiddleware) }
      config.on(:beat) do
        Sidekiq.redis { |conn| conn.set("user:health", JSON.generate(HealthMonitor.new.report)) }
      end
    end

    class WorkJob
      include Sidekiq::Job
      sidekiq_options retry: false
      def perform(fail) = (raise ArgumentError, "bad input" if fail)
    end
  RUBY

  def metrics(port)
    Net::HTTP.get(URI("http://127.0.0.1:#{port}/metrics"))
  rescue SystemCallError, EOFError
    ""
  end

  it "counts the same jobs as the endpoint, and the monitor sees the process" do
    port = RedisServer.free_port
    server = start_server(jobs:, args: %w[-c 3], env: { "FERROKIQ_METRICS_PORT" => port.to_s })
    server.wait_until_running
    Sidekiq::Client.push_bulk("class" => "WorkJob", "args" => [[false]] * 6 + [[true]] * 2)

    eventually { Sidekiq.redis { |conn| conn.hgetall("user:durations") }.values.sum(&:to_i) == 8 }
    expect(Sidekiq.redis { |conn| conn.hgetall("user:durations") })
      .to eq("WorkJob|default|success" => "6", "WorkJob|default|failure" => "2")
    expect(Sidekiq.redis { |conn| conn.hgetall("user:failures") }).to eq("WorkJob|ArgumentError" => "2")

    text = eventually do
      body = metrics(port)
      body if body.include?('sidekiq_job_failures_total{job_name="WorkJob",queue="default",error_class="ArgumentError"} 2')
    end
    expect(text).to include('sidekiq_job_duration_seconds_count{job_name="WorkJob",queue="default",status="success"} 6')

    # A beat taken before the workers fetched every job may have stored a report that still counts
    # some as enqueued: drop it and read the one the next beat writes, after all are done.
    Sidekiq.redis { |conn| conn.del("user:health") }
    health = JSON.parse(eventually { Sidekiq.redis { |conn| conn.get("user:health") } })
    expect(health).to include("processes" => 1, "enqueued" => 0, "dead" => 0)
    expect(server.stop).to be_success
  end
end
