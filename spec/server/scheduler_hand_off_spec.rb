# frozen_string_literal: true

# With client middleware configured, the engine's scheduler claims due jobs and a Ruby thread
# re-pushes them through the middleware (docs/design.md, §5.2): on the scheduler's timing, never
# lost on kill -9, never pushed twice.

# The server's job file: a timed job, and client middleware that records, stamps, cancels or
# holds each job it sees.
HAND_OFF_JOBS = <<~RUBY
  class TimedJob
    include Sidekiq::Job
    def perform(label)
      Sidekiq.redis { |conn| conn.rpush("timed", Sidekiq.dump_json([label, jid, Time.now.to_f])) }
    end
  end

  # Records each job it sees, stamps it, cancels those labelled "cancel", and holds while
  # the file HOLD_FILE names exists (the window between claim and push).
  class StampMiddleware
    def call(_klass, job, _queue, _pool)
      Sidekiq.redis { |conn| conn.rpush("client_seen", job["jid"]) }
      sleep 0.05 while ENV["HOLD_FILE"] && File.exist?(ENV["HOLD_FILE"])
      return if job["args"] == ["cancel"]

      job["stamped"] = "yes"
      yield
    end
  end

  class StampReader
    def call(_job_instance, job, _queue)
      Sidekiq.redis { |conn| conn.rpush("stamps", job["stamped"].to_s) }
      yield
    end
  end

  Sidekiq.configure_server do |config|
    config.client_middleware { |chain| chain.add(StampMiddleware) }
    config.server_middleware { |chain| chain.add(StampReader) }
  end
RUBY

RSpec.describe "Scheduler hand-off to client middleware" do # rubocop:disable Metrics/BlockLength
  before { eval(HAND_OFF_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def timed
    redis_json_list("timed")
  end

  def hand_off_size
    Sidekiq.redis { |conn| conn.keys("ferrokiq:handoff:*").sum { |key| conn.llen(key) } }
  end

  def zcard(set)
    Sidekiq.redis { |conn| conn.zcard(set) }
  end

  def retry_payload(jid)
    JSON.generate("retry" => true, "queue" => "default", "class" => "TimedJob", "args" => ["retried"],
                  "jid" => jid, "created_at" => 1_700_000_000.5, "retry_count" => 0)
  end

  it "re-pushes due scheduled jobs and retries through the middleware, on the scheduler's timing" do
    server = start_server(jobs: HAND_OFF_JOBS).wait_until_running
    # Sidekiq's poller would first wait 10 to 15 s after the start, then poll every 2.5 to 7.5 s.
    due = Time.now.to_f + 1
    scheduled = TimedJob.perform_at(due, "scheduled")
    Sidekiq.redis { |conn| conn.zadd("retry", due, retry_payload("r" * 24)) }
    sleep 0.05 until Time.now.to_f >= due
    eventually(timeout: 4) { timed.size == 2 }
    expect(timed.map { |label, jid, _| [label, jid] })
      .to contain_exactly(["scheduled", scheduled], ["retried", "r" * 24])
    # Started within a second of their time (the scheduler's own lateness is milliseconds:
    # bench/drain.rb measures it; this bound only tells it from Sidekiq's poll).
    expect(timed.map { |_, _, started| started - due }).to all(be < 1.0)
    expect(redis_list("client_seen")).to contain_exactly(scheduled, "r" * 24)
    expect(redis_list("stamps")).to eq(%w[yes yes])
    expect([zcard("schedule"), zcard("retry"), hand_off_size]).to eq([0, 0, 0])
    expect(Sidekiq.redis { |conn| conn.hgetall("ferrokiq:handoff") }).to be_empty
    expect(server.stop).to be_success
  end

  it "drops a job the middleware cancels and sends a garbage member to the dead set (basic fetch)" do
    start_server(jobs: HAND_OFF_JOBS, args: %w[--fetch basic]).wait_until_running
    cancelled = TimedJob.perform_in(0.5, "cancel")
    Sidekiq.redis { |conn| conn.zadd("schedule", Time.now.to_f, "{garbage") }
    kept = TimedJob.perform_in(1, "kept")
    eventually { timed.size == 1 }
    expect(timed.first[1]).to eq(kept)
    eventually { redis_list("client_seen").include?(cancelled) && hand_off_size.zero? }
    expect(redis_list("queue:default")).to be_empty
    expect(Sidekiq.redis { |conn| conn.zrange("dead", 0, -1) }).to eq(["{garbage"])
    expect(zcard("schedule")).to eq(0)
  end

  it "pushes a job claimed by a process killed with SIGKILL before its push exactly once, from another process" do
    hold = File.join(Dir.mktmpdir("ferrokiq-hold"), "hold")
    File.write(hold, "")
    victim = start_server(jobs: HAND_OFF_JOBS, env: { "HOLD_FILE" => hold }).wait_until_running
    jid = TimedJob.perform_in(0.2, "claimed")
    eventually { redis_list("client_seen") == [jid] }
    # Claimed: neither in its set nor in its queue.
    expect([zcard("schedule"), hand_off_size, redis_list("queue:default").size]).to eq([0, 1, 0])
    victim.kill!

    File.delete(hold)
    start_server(jobs: HAND_OFF_JOBS, env: { "HOLD_FILE" => hold }).wait_until_running
    eventually(timeout: 20) { timed.size == 1 }
    sleep 1.5 # a second push would show by now
    expect(timed.map { |_, ran, _| ran }).to eq([jid])
    expect(redis_list("client_seen")).to eq([jid, jid])
    expect([zcard("schedule"), hand_off_size, redis_list("queue:default").size]).to eq([0, 0, 0])
  end

  it "keeps a claimed job through a Redis outage mid-hand-off and pushes it once when Redis returns" do
    own_redis = RedisServer.new(appendonly: true).start
    pool = Sidekiq::RedisConnection.create(url: own_redis.url)
    hold = File.join(Dir.mktmpdir("ferrokiq-hold"), "hold")
    File.write(hold, "")
    server = start_server(jobs: HAND_OFF_JOBS, env: { "REDIS_URL" => own_redis.url, "HOLD_FILE" => hold })
    eventually { pool.with { |conn| conn.scard("processes") } == 1 }
    jid = Sidekiq::Client.new(pool:).push("class" => "TimedJob", "args" => ["outage"], "at" => Time.now.to_f)
    eventually { pool.with { |conn| conn.lrange("client_seen", 0, -1) } == [jid] }

    own_redis.stop
    File.delete(hold) # the push now meets a Redis that is away
    sleep 3
    expect(server).to be_alive
    own_redis.start # with its data (append-only file): the job is still claimed
    eventually(timeout: 20) { pool.with { |conn| conn.llen("timed") } == 1 }
    sleep 1.5
    expect(pool.with { |conn| conn.lrange("timed", 0, -1) }.map { |entry| JSON.parse(entry)[1] }).to eq([jid])
    expect(pool.with { |conn| conn.keys("ferrokiq:handoff*") }).to be_empty
    expect(server.log.scan("Could not push a due job claimed for the client middleware").size).to eq(1)
    expect(server.log).to include("Pushing due jobs through the client middleware again")
    expect(server.stop).to be_success
  ensure
    own_redis&.destroy
  end

  it "never pushes a job twice with two processes claiming" do
    servers = Array.new(2) { start_server(jobs: HAND_OFF_JOBS) }
    servers.each(&:wait_until_running)
    now = Time.now.to_f
    jids = Array.new(300) { |i| TimedJob.perform_at(now + 0.5 + (i * 0.01), "job #{i}") }
    # The lease moves between the processes meanwhile.
    Sidekiq.redis { |conn| conn.del("ferrokiq:scheduler") }
    eventually { timed.size >= 300 }
    sleep 1.5
    expect(timed.map { |_, jid, _| jid }).to match_array(jids)
    expect(redis_list("client_seen")).to match_array(jids)
    expect(hand_off_size).to eq(0)
    servers.each { |server| expect(server.stop).to be_success }
  end
end
