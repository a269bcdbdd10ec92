# frozen_string_literal: true

require "timeout"

# Bad input and a bad Redis: clear errors, nothing lost or half-written, nothing hangs.
RSpec.describe "Failure handling" do
  stub_job = lambda do
    Class.new do
      include Sidekiq::Job

      def perform(*); end
    end
  end

  before { stub_const("FailJob", stub_job.call) }

  # A TCP server that accepts connections and never answers.
  def with_silent_server
    server = TCPServer.new("127.0.0.1", 0)
    accepted = []
    acceptor = Thread.new { loop { accepted << server.accept } }
    yield server.addr[1]
  ensure
    acceptor&.kill
    accepted&.each(&:close)
    server&.close
  end

  it "names the server, password redacted, when Redis is down, and does not hang" do
    port = RedisServer.free_port
    pool = Sidekiq::RedisConnection.create(url: "redis://:topsecret@127.0.0.1:#{port}/0", timeout: 1)
    error = Timeout.timeout(10) do
      Sidekiq::Client.new(pool: pool).push("class" => FailJob, "args" => [])
    rescue Ferrokiq::CannotConnectError => e
      e
    end
    expect(error.message).to include("redis://:REDACTED@127.0.0.1:#{port}/0")
    expect(error.message).not_to include("topsecret")
    expect(error).to be_a(Sidekiq::RedisClientAdapter::BaseError)
  end

  it "says the password was refused" do
    secured = RedisServer.new(password: "right").start
    pool = Sidekiq::RedisConnection.create(url: "redis://:wrong@127.0.0.1:#{secured.port}/0")
    expect { pool.with(&:ping) }.to raise_error(Ferrokiq::AuthenticationError) do |error|
      expect(error.message).to include("redis://:REDACTED@127.0.0.1:#{secured.port}/0").and match(/WRONGPASS|invalid/i)
      expect(error.message).not_to include("wrong@")
    end
    nopass = Sidekiq::RedisConnection.create(url: "redis://127.0.0.1:#{secured.port}/0")
    expect { nopass.with(&:ping) }.to raise_error(Ferrokiq::RedisError, /NOAUTH|Authentication required/i)
  ensure
    secured&.destroy
  end

  it "times out on a server that never answers, within the configured timeout" do
    with_silent_server do |port|
      pool = Sidekiq::RedisConnection.create(url: "redis://127.0.0.1:#{port}/0", timeout: 0.3)
      Timeout.timeout(10) do
        expect { pool.with(&:ping) }.to raise_error(Ferrokiq::TimeoutError, /did not answer within 0\.300 s/)
      end
    end
  end

  it "releases the GVL while waiting, and Thread#raise gets the thread back at once" do
    with_silent_server do |port|
      pool = Sidekiq::RedisConnection.create(url: "redis://127.0.0.1:#{port}/0", timeout: 60)
      waiting = Thread.new do
        Thread.current.report_on_exception = false
        pool.with(&:ping)
      end
      ticks = 0
      ticker = Thread.new do
        50.times do
          ticks += 1
          sleep 0.005
        end
      end
      ticker.join
      expect(ticks).to eq(50)
      expect(waiting).to be_alive
      waiting.raise(Interrupt, "shutdown")
      expect { Timeout.timeout(5) { waiting.join } }.to raise_error(Interrupt, "shutdown")
    end
  end

  it "stays usable after Thread#kill interrupts a wait" do
    with_silent_server do |port|
      pool = Sidekiq::RedisConnection.create(url: "redis://127.0.0.1:#{port}/0", timeout: 60)
      waiting = Thread.new { pool.with(&:ping) }
      sleep 0.1
      waiting.kill
      expect(Timeout.timeout(5) { waiting.join }).to equal(waiting)
    end
    expect(Sidekiq.redis(&:ping)).to eq("PONG")
  end

  it "reconnects when Redis restarts, and reports the outage meanwhile" do
    server = RedisServer.new.start
    pool = Sidekiq::RedisConnection.create(url: server.url, timeout: 1)
    client = Sidekiq::Client.new(pool: pool)
    client.push("class" => FailJob, "args" => [1])
    server.stop
    expect { client.push("class" => FailJob, "args" => [2]) }.to raise_error(Ferrokiq::ConnectionError)
    server.start
    client.push("class" => FailJob, "args" => [3])
    expect(pool.with { |conn| conn.llen("queue:default") }).to eq(1)
  ensure
    server&.destroy
  end

  it "after a failover reply (READONLY) reconnects once and tries again, then gives the server's words" do
    primary = RedisServer.new.start
    demoted = RedisServer.new.start
    demoted.raw("REPLICAOF", "127.0.0.1", primary.port)
    pool = Sidekiq::RedisConnection.create(url: demoted.url, timeout: 1)
    accepted = -> { pool.with { |conn| conn.call("INFO", "stats")[/total_connections_received:(\d+)/, 1].to_i } }
    before = accepted.call
    expect { Sidekiq::Client.new(pool: pool).push("class" => FailJob, "args" => [1]) }
      .to raise_error(Ferrokiq::CommandError, /\AREADONLY/)
    expect { pool.with { |conn| conn.call("SET", "k", "v") } }.to raise_error(Ferrokiq::CommandError, /\AREADONLY/)
    # One new connection per refused call (and none for the INFO calls, which a replica answers).
    expect(accepted.call).to eq(before + 2)
    demoted.raw("REPLICAOF", "NO", "ONE")
    Sidekiq::Client.new(pool: pool).push("class" => FailJob, "args" => [2])
    expect(pool.with { |conn| conn.llen("queue:default") }).to eq(1)
  ensure
    [primary, demoted].compact.each(&:destroy)
  end

  it "writes nothing when the payload cannot be serialized" do
    Sidekiq.strict_args!(false)
    expect { FailJob.perform_async(Float::NAN) }.to raise_error(JSON::GeneratorError)
    expect { FailJob.perform_async("bad \xff") }.to raise_error(JSON::GeneratorError)
    expect { FailJob.perform_in(60, Float::INFINITY) }.to raise_error(JSON::GeneratorError)
    expect(known_queues).to be_empty
    expect(scheduled_jobs).to be_empty
  ensure
    Sidekiq.strict_args!
  end

  it "pushes from a forked child with the child's own runtime and connection" do
    FailJob.perform_async("parent before fork")
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      jid = FailJob.perform_async("child")
      writer.write(jid)
      writer.close
      exit!(0)
    end
    writer.close
    child_jid = Timeout.timeout(20) { reader.read }
    _, status = Timeout.timeout(20) { Process.wait2(pid) }
    expect(status).to be_success
    FailJob.perform_async("parent after fork")
    jobs = queue_jobs
    expect(jobs.map { |job| job["args"].first }).to contain_exactly("parent before fork", "child", "parent after fork")
    expect(jobs.map { |job| job["jid"] }).to include(child_jid)
    expect(jobs.map { |job| job["jid"] }.uniq.size).to eq(3)
  end

  # A bulk push through middleware sends its slices ahead from a background thread
  # (docs/internals.md, §4); that thread's failures reach the caller as the thread's own would.
  describe "a bulk push whose slices are sent ahead" do
    let(:pass_through) { Class.new { def call(*) = yield } }

    def bulk_client(pool = Sidekiq.redis_pool)
      Sidekiq::Client.new(pool: pool).tap { |client| client.middleware { |chain| chain.add(pass_through) } }
    end

    it "raises when Redis is down, naming the server" do
      port = RedisServer.free_port
      pool = Sidekiq::RedisConnection.create(url: "redis://127.0.0.1:#{port}/0", timeout: 1)
      Timeout.timeout(10) do
        expect { bulk_client(pool).push_bulk("class" => FailJob, "args" => [[1], [2], [3]], "batch_size" => 1) }
          .to raise_error(Ferrokiq::CannotConnectError, /127\.0\.0\.1:#{port}/)
        # A slice large enough to be streamed while its chain runs fails the same way.
        expect { bulk_client(pool).push_bulk("class" => FailJob, "args" => Array.new(300) { |index| [index] }) }
          .to raise_error(Ferrokiq::CannotConnectError, /127\.0\.0\.1:#{port}/)
        # With no middleware the slices are written in Rust and sent ahead all the same.
        expect { Sidekiq::Client.new(pool: pool).push_bulk("class" => FailJob, "args" => [[1], [2]], "batch_size" => 1) }
          .to raise_error(Ferrokiq::CannotConnectError, /127\.0\.0\.1:#{port}/)
      end
      expect(Ferrokiq::Native.settle_push).to be_nil
    end

    # Slices of 260 are streamed while their chain runs; the last 40 go in one piece.
    it "works in a forked child after the parent used its sending thread" do
      args = Array.new(300) { |index| [index] }
      bulk_client.push_bulk("class" => FailJob, "args" => args, "batch_size" => 260)
      pid = fork do
        jids = bulk_client.push_bulk("class" => FailJob, "args" => args, "batch_size" => 260)
        exit!(jids.compact.size == 300 ? 0 : 1)
      end
      _, status = Timeout.timeout(20) { Process.wait2(pid) }
      expect(status).to be_success
      bulk_client.push_bulk("class" => FailJob, "args" => args, "batch_size" => 260)
      expect(queue_jobs.map { |job| job["args"].first }.tally).to eq((0..299).to_h { |index| [index, 3] })
    end

    # Chunks of a streamed slice are in Redis's hands, inside a MULTI, before its chain is done:
    # a process killed then stores nothing of the slice, as one that had not sent it.
    it "stores nothing of a streamed slice when the process is killed half-way through it" do
      before = %w[multi exec].to_h { |name| [name, command_calls(name)] }
      multi_seen = -> { command_calls("multi") > before["multi"] }
      killer = Class.new do
        # The chunks of jobs 0-383 were handed to the sending thread; on a busy host it may not
        # have run yet, so the kill waits (10 s at most) until Redis has seen the MULTI.
        define_method(:call) do |_klass, job, _queue, _pool, &block|
          if job["args"] == [500]
            deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
            sleep 0.01 until multi_seen.call || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
            Process.kill(:KILL, Process.pid)
          end
          block.call
        end
      end
      pid = fork do
        client = bulk_client.tap { |c| c.middleware { |chain| chain.add(killer) } }
        client.push_bulk("class" => FailJob, "args" => Array.new(600) { |index| [index] })
        exit!(0)
      end
      _, status = Timeout.timeout(20) { Process.wait2(pid) }
      expect(status.termsig).to eq(Signal.list["KILL"])
      expect(queue_jobs).to be_empty
      # The slice was on its way: a transaction was opened and never executed.
      expect(before.to_h { |name, count| [name, command_calls(name) - count] })
        .to eq("multi" => 1, "exec" => 0)
    end
  end
end
