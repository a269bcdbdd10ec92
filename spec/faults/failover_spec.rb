# frozen_string_literal: true

require "socket"

# A managed Redis failing over: the name the app connects to moves to the promoted replica,
# while the open socket still reaches the demoted server, which answers writes with READONLY.
# A TCP proxy plays the name: new connections go wherever it points now.
RSpec.describe "Redis failover" do
  # Forwards each accepted connection to the port #target names at accept time.
  class SwitchingProxy
    attr_accessor :target
    attr_reader :port

    def initialize(target)
      @target = target
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      @threads = []
      @acceptor = Thread.new { loop { forward(@server.accept) } }
    end

    def close
      @acceptor.kill
      @threads.each(&:kill)
      @server.close
    end

    private

    def forward(client)
      upstream = TCPSocket.new("127.0.0.1", @target)
      @threads << Thread.new { pipe(client, upstream) } << Thread.new { pipe(upstream, client) }
    end

    def pipe(from, to)
      IO.copy_stream(from, to)
    rescue IOError, SystemCallError
      nil
    ensure
      [from, to].each { |io| io.close unless io.closed? }
    end
  end

  around do |example|
    @primary = RedisServer.new.start
    @demoted = RedisServer.new.start
    @demoted.raw("REPLICAOF", "127.0.0.1", @primary.port)
    @proxy = SwitchingProxy.new(@demoted.port)
    example.run
  ensure
    @proxy&.close
    [@primary, @demoted].compact.each(&:destroy)
  end

  def primary(*command)
    TCPSocket.open("127.0.0.1", @primary.port) do |socket|
      socket.write("*#{command.size}\r\n#{command.map { |w| "$#{w.to_s.bytesize}\r\n#{w}\r\n" }.join}")
      line = socket.gets
      line.start_with?("$") && !line.start_with?("$-1") ? socket.read(Integer(line[1..]) + 2).chomp : line.chomp
    end
  end

  # A pool whose connection is open to the server about to be demoted; then the name moves.
  def pool_caught_in_failover
    pool = Sidekiq::RedisConnection.create(url: "redis://127.0.0.1:#{@proxy.port}/0", timeout: 1)
    expect(pool.with { |conn| conn.call("PING") }).to eq("PONG")
    @proxy.target = @primary.port
    pool
  end

  it "pushes once: the refused write is sent again on a new connection, to the promoted server" do
    pool = pool_caught_in_failover
    jid = Sidekiq::Client.new(pool: pool).push("class" => "FailoverJob", "args" => [1])
    expect(primary("LLEN", "queue:default")).to eq(":1")
    expect(primary("LINDEX", "queue:default", "0")).to include(jid)
  end

  it "runs a Sidekiq.redis block's write after one reconnect" do
    pool = pool_caught_in_failover
    pool.with { |conn| conn.call("SET", "after-failover", "yes") }
    expect(primary("GET", "after-failover")).to eq("yes")
  end
end
