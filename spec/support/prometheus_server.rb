# frozen_string_literal: true

require "json"
require "net/http"
require "open3"
require "tmpdir"
require "uri"

# A real Prometheus (Debian's `prometheus` package) scraping one target every second, with its
# data in a temporary directory, for specs that check what it reads from the endpoint.
class PrometheusServer
  def initialize(target)
    @target = target
    @dir = Dir.mktmpdir("ferrokiq-prometheus")
    @port = RedisServer.free_port
  end

  def start
    config = File.join(@dir, "prometheus.yml")
    File.write(config, <<~YAML)
      global:
        scrape_interval: 1s
        scrape_timeout: 1s
      scrape_configs:
        - job_name: ferrokiq
          static_configs:
            - targets: ["#{@target}"]
    YAML
    @pid = Process.spawn("prometheus", "--config.file=#{config}", "--storage.tsdb.path=#{File.join(@dir, "data")}",
                         "--web.listen-address=127.0.0.1:#{@port}", out: log_path, err: log_path)
    self
  end

  # The samples of an instant query: [{labels}, value as Float], empty until data came.
  def query(promql)
    uri = URI("http://127.0.0.1:#{@port}/api/v1/query")
    uri.query = URI.encode_www_form(query: promql)
    reply = JSON.parse(Net::HTTP.get(uri))
    reply.fetch("data").fetch("result").map { |sample| [sample["metric"], Float(sample["value"][1])] }
  rescue SystemCallError, EOFError, JSON::ParserError
    []
  end

  # The value of a query that yields one sample, or nil.
  def value(promql)
    samples = query(promql)
    samples.first&.last if samples.size == 1
  end

  # The state of the scrape of the one target ("up", "down", "unknown").
  def target_health
    reply = JSON.parse(Net::HTTP.get(URI("http://127.0.0.1:#{@port}/api/v1/targets")))
    reply.dig("data", "activeTargets", 0, "health")
  rescue SystemCallError, EOFError, JSON::ParserError
    nil
  end

  def log
    File.exist?(log_path) ? File.read(log_path) : ""
  end

  def stop
    return unless @pid

    Process.kill("TERM", @pid)
    Process.wait(@pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  ensure
    @pid = nil
    FileUtils.rm_rf(@dir)
  end

  private

  def log_path
    File.join(@dir, "prometheus.log")
  end
end
