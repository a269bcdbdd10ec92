# frozen_string_literal: true

require "net/http"
require "securerandom"
require "socket"
require "tmpdir"

# The operations handles of the binding in this process: the endpoint and the watchdog started
# on an engine, sd_notify, and the failure outcomes record_execution accepts (false, true, or
# an error class name), checked through what /metrics shows.
RSpec.describe "Ferrokiq::Native::Operations", :native do
  let(:options) do
    { "identity" => "#{Socket.gethostname}:#{Process.pid}:#{SecureRandom.hex(6)}", "hostname" => Socket.gethostname,
      "tag" => "", "labels" => [], "concurrency" => 2, "queues" => [["default", 0]], "fetch" => "reliable",
      "version" => Sidekiq::VERSION, "dead_max_jobs" => 10, "dead_timeout" => 60.0, "stranded_after" => 60.0,
      "scheduler_defaults" => nil }
  end

  before { @engine = Ferrokiq::Native::Engine.new(Sidekiq.default_configuration.redis_pool.native, options) }

  after do
    @endpoint&.stop
    @engine.stop
  end

  def get(path)
    without_gc_stress { Net::HTTP.get_response(URI("http://#{@endpoint.address}#{path}")) }
  end

  it "serves what record_execution was told, by outcome and error class, from a port of its own" do
    @endpoint = Ferrokiq::Native::Operations.new(@engine, "127.0.0.1", 0)
    expect(@endpoint.address).to match(/\A127\.0\.0\.1:\d+\z/)
    @engine.record_execution(+"Mixed::Job", +"default", 12, false)
    @engine.record_execution(+"Mixed::Job", +"default", 40, true)
    @engine.record_execution(+"Mixed::Job", +"default", 7, +"Net::ReadTimeout")
    @engine.record_execution(+"Mixed::Job", +"default", 8, nil)
    text = get("/metrics").body
    expect(text).to include('sidekiq_jobs_total{job_name="Mixed::Job",queue="default"} 4')
    expect(text).to include('sidekiq_failed_jobs_total{job_name="Mixed::Job",queue="default"} 2')
    expect(text).to include('sidekiq_job_failures_total{job_name="Mixed::Job",queue="default",' \
                            'error_class="Net::ReadTimeout"} 1')
    expect(text).to include('sidekiq_job_duration_seconds_sum{job_name="Mixed::Job",queue="default",' \
                            'status="success"} 0.02')
    @engine.upkeep_tick # no launcher here to keep the upkeep clock going
    expect(get("/live").code).to eq("200")
    @endpoint.stop
    expect { get("/live") }.to raise_error(SystemCallError)
  end

  it "refuses an address it cannot bind with IOError" do
    taken = TCPServer.new("127.0.0.1", 0)
    expect { Ferrokiq::Native::Operations.new(@engine, "127.0.0.1", taken.addr[1]) }
      .to raise_error(IOError, /cannot serve metrics on 127\.0\.0\.1:#{taken.addr[1]}/)
  ensure
    taken&.close
  end

  it "pings the watchdog while the engine is live, and sd_notify sends one datagram" do
    Dir.mktmpdir("notify") do |dir|
      path = File.join(dir, "notify.sock")
      socket = Socket.new(:UNIX, :DGRAM)
      socket.bind(Addrinfo.unix(path, :DGRAM))
      expect(Ferrokiq::Native.sd_notify(path, "STATUS=native")).to eq(13)
      expect(socket.recv(64)).to eq("STATUS=native")
      watchdog = Ferrokiq::Native::Watchdog.new(@engine, path, 0.05)
      @engine.upkeep_tick
      expect(socket.recv(64)).to eq("WATCHDOG=1")
      watchdog.stop
      expect { Ferrokiq::Native.sd_notify(File.join(dir, "absent.sock"), "READY=1") }.to raise_error(IOError)
    ensure
      socket&.close
    end
  end
end
