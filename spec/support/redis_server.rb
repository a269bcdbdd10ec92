# frozen_string_literal: true

require "socket"
require "tmpdir"
require "fileutils"

# A throwaway redis-server on a free 127.0.0.1 port, owned by the test run.
class RedisServer
  attr_reader :port, :password, :pid

  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  # +appendonly+: keep data across restarts (AOF, fsync on every write). +maxmemory+: e.g.
  # "16mb", with +maxmemory_policy+ ("noeviction" unless given). +extra_args+: more
  # redis-server flags, e.g. ["--hz", "50"].
  def initialize(password: nil, appendonly: false, maxmemory: nil, maxmemory_policy: nil, extra_args: [])
    @port = self.class.free_port
    @password = password
    @appendonly = appendonly
    @maxmemory = maxmemory
    @maxmemory_policy = maxmemory_policy || (maxmemory && "noeviction")
    @extra_args = extra_args
    @dir = Dir.mktmpdir("ferrokiq-redis")
  end

  def url(db: 0)
    auth = password ? ":#{password}@" : ""
    "redis://#{auth}127.0.0.1:#{port}/#{db}"
  end

  def start
    args = ["redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "", "--dir", @dir]
    args += @appendonly ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]
    args += ["--maxmemory", @maxmemory.to_s, "--maxmemory-policy", @maxmemory_policy] if @maxmemory
    args += ["--requirepass", password] if password
    args += @extra_args
    @pid = Process.spawn(*args, out: File::NULL, err: File::NULL)
    wait_until_ready
    self
  end

  def stop
    return unless @pid

    Process.kill("TERM", @pid)
    Process.wait(@pid)
    @pid = nil
  rescue Errno::ESRCH, Errno::ECHILD
    @pid = nil
  end

  # SIGKILL: works while the server is hung (DEBUG SLEEP), when TERM would wait for it.
  def kill!
    return unless @pid

    Process.kill("KILL", @pid)
    Process.wait(@pid)
    @pid = nil
  rescue Errno::ESRCH, Errno::ECHILD
    @pid = nil
  end

  def destroy
    stop
    FileUtils.rm_rf(@dir)
  end

  # Sends one raw command over a fresh socket (independent of the code under test).
  def raw(*words)
    TCPSocket.open("127.0.0.1", port) do |socket|
      socket.write("AUTH #{password}\r\n") && socket.gets if password
      socket.write("*#{words.size}\r\n#{words.map { |w| "$#{w.to_s.bytesize}\r\n#{w}\r\n" }.join}")
      socket.gets
    end
  end

  private

  def wait_until_ready
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    loop do
      return if raw("PING")&.start_with?("+PONG", "-NOAUTH")
    rescue Errno::ECONNREFUSED, Errno::ECONNRESET
      raise "redis-server on port #{port} did not start" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
  end
end
