# frozen_string_literal: true

require "socket"
require "tmpdir"
require "sidekiq/sd_notify"

# A server under systemd (`Type=notify`, `WatchdogSec=`): the datagrams it sends on the
# NOTIFY_SOCKET that systemd would create, read from a real Unix datagram socket.
RSpec.describe "systemd notifications" do
  # A socket standing where systemd's notify socket would; collects what arrives.
  class NotifySocket
    attr_reader :path

    def initialize(path)
      @path = path
      @socket = Socket.new(:UNIX, :DGRAM)
      @socket.bind(Addrinfo.unix(path, :DGRAM))
      @messages = Queue.new
      @reader = Thread.new { loop { @messages << @socket.recv(4096) } }
    end

    # Every message received so far, in order.
    def received
      (@seen ||= []).concat(Array.new(@messages.size) { @messages.pop })
    end

    def close
      @reader.kill
      @socket.close
    end
  end

  around do |example|
    Dir.mktmpdir("notify") do |dir|
      @notify = NotifySocket.new(File.join(dir, "notify.sock"))
      example.run
    ensure
      @notify&.close
    end
  end

  it "says READY with a status, pings the watchdog at half its period, and says STOPPING on TERM" do
    server = start_server(jobs: "", args: %w[-c 3],
                          env: { "NOTIFY_SOCKET" => @notify.path, "WATCHDOG_USEC" => "1000000" })
    server.wait_until_running
    eventually { @notify.received.count("WATCHDOG=1") >= 3 }
    server.signal("TSTP")
    eventually { @notify.received.any? { |message| message.start_with?("STATUS=quiet") } }
    expect(server.stop).to be_success
    messages = @notify.received
    expect(messages.first(2)).to eq(["READY=1", "STATUS=processing with 3 threads, queues default"])
    expect(messages.last).to eq("STOPPING=1")
    expect(messages - ["WATCHDOG=1"]).to eq(messages.first(2) + [messages.grep(/\ASTATUS=quiet/).first, "STOPPING=1"])
  end

  it "stops the watchdog pings while the engine is wedged (test hook) and resumes them after" do
    wedge = File.join(File.dirname(@notify.path), "wedge")
    server = start_server(jobs: "", env: { "NOTIFY_SOCKET" => @notify.path, "WATCHDOG_USEC" => "1000000",
                                           "FERROKIQ_TEST_WEDGE_FILE" => wedge })
    server.wait_until_running
    eventually { @notify.received.count("WATCHDOG=1") >= 2 }
    File.write(wedge, "")
    eventually { server.log.include?("no more watchdog pings") }
    silenced = @notify.received.count("WATCHDOG=1")
    sleep 2 # four ping periods: none may come while the engine stays wedged
    expect(@notify.received.count("WATCHDOG=1")).to eq(silenced)
    expect(server.log).to match(/systemd: the process is not making progress \(engine thread last ran [\d.]+ s ago/)
    File.delete(wedge)
    eventually { @notify.received.count("WATCHDOG=1") > silenced }
    eventually { server.log.include?("watchdog pings resume") }
    expect(server.stop).to be_success
    expect(@notify.received.last).to eq("STOPPING=1")
  end

  it "sends no watchdog pings for another process's WATCHDOG_PID" do
    server = start_server(jobs: "", env: { "NOTIFY_SOCKET" => @notify.path, "WATCHDOG_USEC" => "1000000",
                                           "WATCHDOG_PID" => "1" })
    server.wait_until_running
    eventually { @notify.received.include?("READY=1") }
    expect(server.stop).to be_success
    expect(@notify.received).not_to include("WATCHDOG=1")
  end

  describe Sidekiq::SdNotify do
    around do |example|
      saved = ENV.to_h.slice("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
      example.run
    ensure
      %w[NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID].each { |key| ENV[key] = saved[key] }
    end

    it "does nothing without NOTIFY_SOCKET, sends to a path or an abstract name, and can unset it" do
      ENV.delete("NOTIFY_SOCKET")
      expect(described_class.ready).to be_nil
      ENV["NOTIFY_SOCKET"] = @notify.path
      expect(described_class.status("all good")).to eq("STATUS=all good".bytesize)
      abstract = Socket.new(:UNIX, :DGRAM)
      name = "ferrokiq-spec-#{Process.pid}"
      abstract.bind(Addrinfo.unix("\0#{name}", :DGRAM))
      ENV["NOTIFY_SOCKET"] = "@#{name}"
      described_class.mainpid(42, true)
      expect(abstract.recv(100)).to eq("MAINPID=42")
      expect(ENV.fetch("NOTIFY_SOCKET", nil)).to be_nil
      eventually { @notify.received == ["STATUS=all good"] }
    ensure
      abstract&.close
    end

    it "raises NotifyError naming the socket when it cannot send" do
      ENV["NOTIFY_SOCKET"] = "/nonexistent/notify.sock"
      expect { described_class.watchdog }.to raise_error(Sidekiq::SdNotify::NotifyError, %r{/nonexistent/notify.sock})
    end

    it "reads the watchdog period for this process only" do
      ENV["WATCHDOG_USEC"] = "3000000"
      ENV.delete("WATCHDOG_PID")
      expect([described_class.watchdog?, described_class.watchdog_usec]).to eq([true, 3_000_000])
      ENV["WATCHDOG_PID"] = Process.pid.to_s
      expect(described_class.watchdog?).to be(true)
      ENV["WATCHDOG_PID"] = "1"
      expect(described_class.watchdog?).to be(false)
      ENV["WATCHDOG_PID"] = nil
      ENV["WATCHDOG_USEC"] = "soon"
      expect(described_class.watchdog?).to be(false)
    end
  end
end
