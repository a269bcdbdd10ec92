# frozen_string_literal: true

require "net/http"
require "open3"
require "securerandom"
require "socket"

# A minimal RESP client, independent of the code under test.
class DemoSpecRedis
  def initialize(port)
    @socket = TCPSocket.new("127.0.0.1", port)
  end

  def call(*words)
    @socket.write("*#{words.size}\r\n#{words.map { |w| "$#{w.to_s.bytesize}\r\n#{w.to_s.b}\r\n" }.join}")
    read
  end

  def close
    @socket.close
  end

  private

  def read
    line = @socket.gets("\r\n").chomp("\r\n")
    body = line[1..]
    case line[0]
    when "+" then body
    when ":" then Integer(body)
    when "-" then raise body
    when "$" then Integer(body).negative? ? nil : @socket.read(Integer(body) + 2).byteslice(0, Integer(body))
    when "*" then Integer(body).negative? ? nil : Array.new(Integer(body)) { read }
    end
  end
end

# bin/demo pointed at a Redis that already holds someone else's data: it runs its own jobs and
# nothing else, and leaves every key as it found it: byte for byte (a set kept as a hash table:
# the same members, see #snapshot), expiry included.
RSpec.describe "bin/demo on a Redis that holds other data" do
  root = File.expand_path("..", __dir__)

  def job(klass, queue, *args, **extra)
    JSON.generate({ "retry" => true, "queue" => queue, "class" => klass, "args" => args,
                    "jid" => SecureRandom.hex(12), "created_at" => Time.now.to_f - 600,
                    "enqueued_at" => Time.now.to_f - 600 }.merge(extra))
  end

  # Data as an application's Redis has it: queued, scheduled (one of them due, as when no server
  # has run for a while), retrying (due) and dead jobs, a live and a stale process, the working
  # list of a Ferrokiq process that died on this host, stats counters and unrelated keys.
  def seed(redis)
    seed_jobs(redis, Time.now.to_f)
    seed_processes(redis, Time.now.to_f)
    today = Time.now.utc.strftime("%Y-%m-%d")
    redis.call("SET", "stat:processed", "1234")
    redis.call("SET", "stat:failed", "56")
    { "processed" => 100, "failed" => 7 }.each do |name, count|
      redis.call("INCRBY", "stat:#{name}:#{today}", count)
      redis.call("EXPIRE", "stat:#{name}:#{today}", 5 * 365 * 86_400)
    end
    redis.call("SET", "cache:greeting", "h\xC3\xA9llo \xFF".b, "EX", 3600)
    redis.call("HSET", "session:42", "user", "7")
  end

  def seed_jobs(redis, now)
    redis.call("LPUSH", "queue:default", job("InvoiceJob", "default", 1), job("InvoiceJob", "default", 2))
    redis.call("LPUSH", "queue:reports", job("ReportJob", "reports", "Q1"))
    redis.call("SADD", "queues", "default", "reports")
    redis.call("ZADD", "schedule", now + 3600, job("ReminderJob", "default", 7))
    redis.call("ZADD", "schedule", now - 30, job("ReminderJob", "default", 8))
    failure = { "error_class" => "IOError", "error_message" => "down", "failed_at" => now - 60 }
    redis.call("ZADD", "retry", now - 5, job("InvoiceJob", "default", 3, "retry_count" => 0, **failure))
    redis.call("ZADD", "dead", now - 86_400, job("InvoiceJob", "default", 4, "retry_count" => 25, **failure))
  end

  def seed_processes(redis, now)
    live = "otherhost:4242:0123456789ab"
    redis.call("SADD", "processes", live, "otherhost:4343:ba9876543210")
    info = { "hostname" => "otherhost", "pid" => 4242, "queues" => ["default"], "concurrency" => 5 }
    redis.call("HSET", live, "info", JSON.generate(info), "busy", 0, "beat", now, "quiet", "false", "rss", 1000)
    redis.call("EXPIRE", live, 60)
    gone = "#{Socket.gethostname}:4194300:00000000dead"
    redis.call("LPUSH", "ferrokiq:working:#{gone}:default", job("InvoiceJob", "default", 5))
    redis.call("HSET", "ferrokiq:working", "ferrokiq:working:#{gone}:default", "#{gone}\ndefault\n#{now.to_i - 600}")
  end

  # Every key with its DUMP and absolute expiry (Unix ms, -1 for none). A set kept as a hash
  # table (every set of strings on Redis 7.0) is compared by its members instead: the demo
  # necessarily adds to `queues` (every push does, as in Sidekiq) and `processes` (its server's
  # heartbeat) and removes its members again, and a hash table that grew meanwhile lists the same
  # members in another order.
  def snapshot(redis)
    redis.call("KEYS", "*").sort.to_h do |key|
      value = if redis.call("TYPE", key) == "set" && redis.call("OBJECT", "ENCODING", key) == "hashtable"
                redis.call("SMEMBERS", key).sort
              else
                redis.call("DUMP", key)
              end
      [key, [value, redis.call("PEXPIRETIME", key)]]
    end
  end

  before(:all) do
    @server = RedisServer.new.start
    @redis = DemoSpecRedis.new(@server.port)
  end

  after(:all) do
    @redis&.close
    @server&.destroy
  end

  it "runs only its own jobs and leaves every other key exactly as it was" do
    seed(@redis)
    before = snapshot(@redis)
    env = { "REDIS_URL" => @server.url, "FERROKIQ_DEMO_SKIP_BUILD" => "1", "RUBYOPT" => nil }
    output, status = Open3.capture2e(env, File.join(root, "bin", "demo"), chdir: root)
    log = output[%r{ >(/\S+/ferrokiq-demo-server-\S+\.log) 2>&1}, 1]

    expect(status).to be_success, output
    expect(output).to include("Server stopped: it ran 6252 jobs, 2 of them failed.")
    expect(output).to include("What next")
    expect(output).not_to include("\e")
    expect(output.lines.grep(/\A==> /)).to eq(["==> ruby -Ilib examples/demo/enqueue.rb\n",
                                               "==> ruby -Ilib examples/demo/process.rb\n",
                                               "==> ruby -Ilib examples/demo/cleanup.rb\n"])
    expect(File.stat(log).mode & 0o777).to eq(0o600) # a fresh file of its own, as mktemp makes
    expect(File.read(log)).to include("Bye!")
    expect(snapshot(@redis)).to eq(before)
  ensure
    File.delete(log) if log && File.exist?(log)
  end
end

# `bin/demo --web` as a user runs it in a terminal (its own process group, which Ctrl-C signals
# as a whole), with its throwaway Redis: once the queues are drained it serves the Web UI on
# $PORT with the server still running, until INT; then every process it started is gone.
RSpec.describe "bin/demo --web" do
  root = File.expand_path("..", __dir__)

  # The pids whose process group is +pgid+.
  def group_members(pgid)
    Dir["/proc/[0-9]*/stat"].select do |stat|
      File.read(stat).split(") ", 2).last.split[2].to_i == pgid
    rescue SystemCallError
      false
    end
  end

  # Reads +io+ until a line matches +pattern+; returns everything read (fails after +timeout+).
  def read_until(io, pattern, timeout: 120)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    output = +""
    until output.match?(pattern)
      left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      raise "no #{pattern.inspect} within #{timeout}s:\n#{output}" unless left.positive? && io.wait_readable(left)

      output << (io.gets || raise("bin/demo ended before #{pattern.inspect}:\n#{output}"))
    end
    output
  end

  it "serves the dashboard while its server runs, and stops everything on Ctrl-C" do
    port = RedisServer.free_port
    env = { "REDIS_URL" => nil, "PORT" => port.to_s, "FERROKIQ_DEMO_SKIP_BUILD" => "1", "RUBYOPT" => nil }
    reader, writer = IO.pipe
    command = [File.join(root, "bin", "demo"), "--web"]
    pid = Process.spawn(env, *command, chdir: root, out: writer, err: writer, pgroup: true)
    writer.close
    output = read_until(reader, %r{^  http://127\.0\.0\.1:#{port}/$})
    redis_port = Integer(output[/^==> setsid redis-server --port (\d+) /, 1])
    prefix = output[/queue:(ferrokiq-demo-\h+)-critical/, 1]

    dashboard = Net::HTTP.get_response(URI("http://127.0.0.1:#{port}/"))
    expect(dashboard.code).to eq("200")
    expect(dashboard.body).to include("<h1>Dashboard</h1>", 'href="/busy"')
    busy = Net::HTTP.get(URI("http://127.0.0.1:#{port}/busy"))
    expect(busy).to include("#{prefix}-critical") # the demo's server, still running
    expect(group_members(pid)).not_to be_empty

    Process.kill("INT", -pid) # Ctrl-C
    output << reader.read
    _, status = Process.wait2(pid)
    expect(status).to be_success, output
    expect(output).to include("Stopped the Web UI", "What next")
    expect(output).to match(/Server stopped: it ran \d+ jobs/) # the failing charges may have run again
    expect(output).not_to include("clean-up failed", "CannotConnectError", "(Errno::")
    expect(group_members(pid)).to eq([])
    expect { TCPSocket.new("127.0.0.1", redis_port).close }.to raise_error(Errno::ECONNREFUSED)
    expect { TCPSocket.new("127.0.0.1", port).close }.to raise_error(Errno::ECONNREFUSED)
  ensure
    reader&.close
    begin
      Process.kill("KILL", -pid) && Process.wait(pid) if pid && !status
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
  end
end
