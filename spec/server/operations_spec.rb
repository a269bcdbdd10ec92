# frozen_string_literal: true

require "json"
require "net/http"
require "open3"
require "ferrokiq/operations"
require_relative "../support/prometheus_server"

# The operations endpoint of a running server: Prometheus metrics, scraped by a real
# Prometheus, and the /live and /ready health checks.
RSpec.describe "the operations endpoint" do
  let(:jobs) { <<~RUBY }
    class GoodJob
      include Sidekiq::Job
      def perform(index) = index
    end

    class BadJob
      include Sidekiq::Job
      sidekiq_options retry: false
      def perform = raise(KeyError, "no such key")
    end
  RUBY

  def get(port, path)
    Net::HTTP.get_response(URI("http://127.0.0.1:#{port}#{path}"))
  rescue SystemCallError, EOFError
    nil
  end

  def answer(port, path)
    response = get(port, path)
    response && [response.code.to_i, JSON.parse(response.body)]
  end

  it "serves the job counters, a histogram and cluster gauges that Prometheus scrapes and promtool accepts" do
    port = RedisServer.free_port
    server = start_server(jobs:, args: %w[-c 5 -q default -q critical],
                          env: { "FERROKIQ_METRICS_PORT" => port.to_s })
    server.wait_until_running
    Sidekiq::Client.push_bulk("class" => "GoodJob", "args" => (1..10).map { |i| [i] })
    3.times { |i| Sidekiq::Client.push("class" => "GoodJob", "queue" => "critical", "args" => [i]) }
    2.times { Sidekiq::Client.push("class" => "BadJob", "args" => []) }
    2.times { Sidekiq::Client.push("class" => "GoodJob", "queue" => "parked", "args" => [0]) }
    text = eventually do
      body = get(port, "/metrics")&.body.to_s
      body if body.include?('sidekiq_failed_jobs_total{job_name="BadJob",queue="default"} 2')
    end
    expect(get(port, "/metrics")["Content-Type"]).to eq("text/plain; version=0.0.4; charset=utf-8")
    output, status = Open3.capture2e("promtool", "check", "metrics", stdin_data: text)
    expect(status).to be_success, output
    expect(output).to be_empty

    prometheus = PrometheusServer.new("127.0.0.1:#{port}").start
    begin
      eventually(timeout: 60) { prometheus.target_health == "up" }
      eventually { prometheus.value('sidekiq_jobs_total{job_name="GoodJob",queue="default"}') == 10 }
      expect(prometheus.value('sidekiq_jobs_total{job_name="GoodJob",queue="critical"}')).to eq(3)
      expect(prometheus.value('sidekiq_failed_jobs_total{job_name="GoodJob",queue="default"}')).to eq(0)
      expect(prometheus.value('sidekiq_failed_jobs_total{job_name="BadJob"}')).to eq(2)
      expect(prometheus.value('sidekiq_job_failures_total{job_name="BadJob",error_class="KeyError"}')).to eq(2)
      successes = 'sidekiq_job_duration_seconds_count{job_name="GoodJob",status="success"}'
      expect(prometheus.value("sum(#{successes})")).to eq(13)
      expect(prometheus.value('sidekiq_job_duration_seconds_count{job_name="BadJob",status="failure"}')).to eq(2)
      infinite = 'sidekiq_job_duration_seconds_bucket{job_name="GoodJob",queue="default",status="success",le="+Inf"}'
      expect(prometheus.value(infinite)).to eq(10)
      buckets = 'sidekiq_job_duration_seconds_bucket{job_name="GoodJob"}'
      median = prometheus.value("histogram_quantile(0.5, sum by (le) (rate(#{buckets}[1m])))")
      expect(median).to be_between(0, 335) if median && !median.nan? # no rate until two scrapes saw a change
      # The cluster gauges are a snapshot up to 10 s old (ops/cluster.rs FRESH): one taken while a
      # default job still waited says 3 enqueued; wait for one taken after the drain.
      eventually { prometheus.value("sidekiq_stats_enqueued") == 2 }
      expect(prometheus.value('sidekiq_queue_backlog{queue="parked"}')).to eq(2)
      expect(prometheus.value('sidekiq_queue_latency_seconds{queue="parked"}')).to be >= 0
      expect(prometheus.value("sidekiq_stats_processes_size")).to eq(1)
      expect(prometheus.value("sidekiq_process_concurrency")).to eq(5)
      expect(prometheus.value("process_resident_memory_bytes")).to be > 1_000_000
    ensure
      warn prometheus.log if RSpec.current_example.exception
      prometheus.stop
    end
    expect(server.stop).to be_success
  end

  it "computes the cluster gauges in one process at a time and shares them" do
    ports = [RedisServer.free_port, RedisServer.free_port]
    servers = ports.map do |port|
      start_server(jobs:, env: { "FERROKIQ_METRICS_PORT" => port.to_s })
    end
    servers.each(&:wait_until_running)
    stamps = ports.map do |port|
      eventually { get(port, "/metrics")&.body.to_s[/^ferrokiq_cluster_metrics_computed_timestamp_seconds (\S+)$/, 1] }
    end
    shared = JSON.parse(Sidekiq.redis { |conn| conn.get("ferrokiq:metrics:cluster") })
    expect(shared).to include("processes" => 2, "busy" => 0)
    # The process scraped second found the first one's fresh copy in Redis instead of computing
    # its own: both show the same computation.
    expect(stamps.map { |stamp| Float(stamp) }).to eq([shared["computed_at"]] * 2)
    servers.each { |server| expect(server.stop).to be_success }
  end

  it "answers /ready 503 while Redis is away or the process is quiet, and /live 200 all along" do
    own_redis = RedisServer.new.start
    port = RedisServer.free_port
    server = start_server(jobs:,
                          env: { "REDIS_URL" => own_redis.url, "FERROKIQ_METRICS_PORT" => port.to_s })
    eventually { answer(port, "/ready")&.first == 200 }
    expect(answer(port, "/ready")).to eq([200, { "status" => "ok", "live" => true, "redis" => true,
                                                 "fetching" => true, "quiet" => false }])
    expect(answer(port, "/live")).to match([200, include("status" => "ok", "failure" => nil)])

    own_redis.stop
    eventually { answer(port, "/ready")&.first == 503 }
    expect(answer(port, "/ready")).to match([503, include("status" => "unavailable", "redis" => false)])
    expect(answer(port, "/live").first).to eq(200)

    own_redis.start
    eventually(timeout: 30) { answer(port, "/ready")&.first == 200 }

    server.signal("TSTP")
    eventually { answer(port, "/ready")&.first == 503 }
    expect(answer(port, "/ready")).to match([503, include("quiet" => true, "fetching" => false, "redis" => true)])
    expect(answer(port, "/live").first).to eq(200)
    expect(get(port, "/nowhere").code).to eq("404")
    expect(server.stop).to be_success
  ensure
    own_redis&.destroy
  end

  it "answers /live 503 while the engine is wedged (test hook), and 200 once it runs again" do
    port = RedisServer.free_port
    wedge = File.join(Dir.mktmpdir("wedge"), "wedge")
    server = start_server(jobs:,
                          env: { "FERROKIQ_METRICS_PORT" => port.to_s, "FERROKIQ_TEST_WEDGE_FILE" => wedge })
    eventually { answer(port, "/live")&.first == 200 }
    File.write(wedge, "")
    code, body = eventually { (reply = answer(port, "/live")) && reply.first == 503 && reply }
    expect(code).to eq(503)
    expect(body).to include("status" => "failing")
    expect(body["engine_tick_age"]).to be >= 5
    expect(answer(port, "/ready").first).to eq(503)
    File.delete(wedge)
    eventually { answer(port, "/live")&.first == 200 }
    expect(server.stop).to be_success
  ensure
    FileUtils.rm_rf(File.dirname(wedge)) if wedge
  end

  it "logs a port it cannot bind and runs on without the endpoint" do
    blocker = TCPServer.new("127.0.0.1", 0)
    port = blocker.addr[1]
    server = start_server(jobs:, env: { "FERROKIQ_METRICS_PORT" => port.to_s })
    server.wait_until_running
    eventually { server.log.include?("running without the metrics endpoint") }
    expect(server.log).to include("cannot serve metrics on 127.0.0.1:#{port}")
    expect(server.stop).to be_success
  ensure
    blocker&.close
  end

  describe Ferrokiq::Operations do
    def settings(metrics, env = {})
      described_class.settings({ metrics: }, env)
    end

    it "reads metrics: from the config, with string or symbol keys, and lets the environment win" do
      expect(settings(nil)).to be_nil
      expect(settings({ port: 9394 })).to eq(bind: "127.0.0.1", port: 9394)
      expect(settings({ "port" => "9395", "bind" => "0.0.0.0" })).to eq(bind: "0.0.0.0", port: 9395)
      expect(settings({ port: 9394 }, "FERROKIQ_METRICS_PORT" => "9000", "FERROKIQ_METRICS_BIND" => "::1"))
        .to eq(bind: "::1", port: 9000)
      expect(settings(nil, "FERROKIQ_METRICS_PORT" => " ")).to be_nil
    end

    it "refuses a port that is not one" do
      expect { settings({ port: "http" }) }.to raise_error(ArgumentError)
      expect { settings({ port: 70_000 }) }.to raise_error(ArgumentError, /between 0 and 65535/)
      expect { settings(9394) }.to raise_error(ArgumentError, /must be a Hash/)
    end
  end
end
