# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Issue 9, defect 3: TERM or TSTP while Redis is stopped or hung never kills the process. TSTP
# keeps it up and quiet; TERM lets running jobs finish within -t, logs the Redis errors and
# exits 0; with basic fetch, fetched jobs that cannot be pushed back are run or logged.
RSpec.describe "Faults: signals during a Redis outage" do
  # Redis keeps its data across the restarts here (AOF, fsync always), and takes DEBUG SLEEP.
  def outage_redis
    @outage_redis = RedisServer.new(appendonly: true, extra_args: %w[--enable-debug-command local]).start
  end

  after do
    @outage_redis&.kill!
    @outage_redis&.destroy
  end

  # A server on +redis+ whose jobs record in a file; waits until +running+ jobs have started.
  def busy_server(redis, jids_count: 10, seconds: 1, running: 2, args: %w[-c 2 -t 3])
    raw = raw_redis(redis)
    jids = push_record_jobs(raw, jids_count, seconds:)
    server = start_fault_server(args:, redis_url: redis.url, file_records: true)
    wait_registered(server, raw)
    eventually { started_jids.size >= running }
    [server, jids, raw]
  end

  # Redis back (with its data), a fresh server drains: nothing was lost.
  def expect_a_fresh_server_to_run_them_all(redis, jids)
    redis.start unless redis.pid
    server = start_fault_server(args: %w[-c 5], redis_url: redis.url, file_records: true)
    expect_every_job_ran(jids, redis: raw_redis(redis), within: 30)
    expect(server.stop).to be_success
  end

  REDIS_ERROR = /refused|connect|timed? ?out|timeout|Redis|broken pipe|reset/i

  it "on TERM while Redis is stopped, lets the running jobs finish, logs the Redis error and exits 0" do
    redis = outage_redis
    server, jids, = busy_server(redis)
    running = started_jids
    redis.stop
    server.signal("TERM")
    status = exit_status_within(server, 30)
    expect(status).not_to be_nil, "still running 30 s after TERM"
    expect(status).to be_success
    expect(file_ran_jids).to include(*running)
    expect(server.log).to match(REDIS_ERROR)
    expect_a_fresh_server_to_run_them_all(redis, jids)
  end

  it "on TSTP while Redis is stopped, stays up and quiet, and exits 0 on a later TERM" do
    redis = outage_redis
    server, jids, = busy_server(redis, seconds: 0.5)
    redis.stop
    server.signal("TSTP")
    sleep 3
    expect(server).to be_alive
    started = started_jids.size
    redis.start
    sleep 3 # Redis is back: a quiet process still takes no new job
    expect(server).to be_alive
    expect(started_jids.size).to eq(started)
    server.signal("TERM")
    expect(exit_status_within(server, 30)).to be_success
    expect_a_fresh_server_to_run_them_all(redis, jids)
  end

  it "on TERM while Redis hangs (DEBUG SLEEP 30), lets the running jobs finish, logs the Redis error and exits 0" do
    redis = outage_redis
    server, jids, raw = busy_server(redis)
    running = started_jids
    hang = raw.send_detached("DEBUG", "SLEEP", "30")
    sleep 0.3
    server.signal("TERM")
    status = exit_status_within(server, 27)
    expect(status).not_to be_nil, "still running 27 s after TERM (Redis is hung for 30 s)"
    expect(status).to be_success
    expect(file_ran_jids).to include(*running)
    expect(server.log).to match(REDIS_ERROR)
    redis.kill! # ends the hang; the AOF has every write
    hang.join
    expect_a_fresh_server_to_run_them_all(redis, jids)
  end

  it "on TSTP while Redis hangs (DEBUG SLEEP 30), stays up, and exits 0 on a later TERM" do
    redis = outage_redis
    server, jids, raw = busy_server(redis, seconds: 0.5)
    hang = raw.send_detached("DEBUG", "SLEEP", "30")
    sleep 0.3
    server.signal("TSTP")
    sleep 8 # past the client's 3 s timeout, twice
    expect(server).to be_alive
    redis.kill! # ends the hang; the AOF has every write
    hang.join
    redis.start
    started = started_jids.size
    sleep 2 # Redis is back: a quiet process still takes no new job
    expect(server).to be_alive
    expect(started_jids.size).to eq(started)
    server.signal("TERM")
    expect(exit_status_within(server, 30)).to be_success
    expect_a_fresh_server_to_run_them_all(redis, jids)
  end

  it "with basic fetch, on TERM while Redis is stopped, exits 0 and loses no fetched job: each ran, " \
     "is back in its queue, or its payload is in the log" do
    redis = outage_redis
    server, jids, raw = busy_server(redis, args: %w[-c 2 -t 3 --fetch basic])
    redis.stop
    server.signal("TERM")
    status = exit_status_within(server, 30)
    expect(status).not_to be_nil, "still running 30 s after TERM"
    expect(status).to be_success
    redis.start
    log = server.log
    located = job_locations(raw)
    missing = jids.reject { |jid| located[jid].any? { |place| safe_place?(place) } || log.include?(jid) }
    expect(missing).to be_empty, -> { "#{missing.size} jobs neither ran, nor queued, nor logged: #{missing.inspect}" }
  end
end
