# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Issue 9, defect 4: a command whose reply is lost (Redis hung past the 3 s client timeout) may
# still have run in Redis. A fetch's jobs must not stay stranded in the working list (the sweep
# re-queues them within stranded_after), and a push is never re-sent after a timeout.
RSpec.describe "Faults: replies lost to a hung Redis" do
  def hung_redis
    @hung_redis = RedisServer.new(extra_args: %w[--enable-debug-command local]).start
  end

  after do
    @hung_redis&.kill!
    @hung_redis&.destroy
  end

  it "strands no fetched job beyond stranded_after when a fetch's reply is lost (DEBUG SLEEP 5 during a drain)" do
    redis = hung_redis
    raw = raw_redis(redis)
    jids = push_record_jobs(raw, 400, seconds: 0.01)
    # stranded_after from the YAML file this time.
    server = start_fault_server(args: %w[-c 2], redis_url: redis.url, file_records: true,
                                yaml: { stranded_after: FaultHelpers::STRANDED_AFTER }, stranded_after: nil)
    wait_registered(server, raw)
    eventually { file_ran_jids.size >= 40 }
    hang = raw.send_detached("DEBUG", "SLEEP", "5")
    hang.join(10)
    expect(file_ran_jids.size).to be < jids.size # the hang came during the drain

    expect_every_job_ran(jids, redis: raw, within: FaultHelpers::STRANDED_AFTER + 20)
    expect(server).to be_alive
    expect(server.stop).to be_success
  end

  it "enqueues a perform_async sent to a Redis hung for 5 s at most once (never re-sent after the timeout)" do
    redis = hung_redis
    raw = raw_redis(redis)
    pool = Sidekiq::RedisConnection.create(url: redis.url)
    client = Sidekiq::Client.new(pool:)
    pool.with { |conn| conn.call("PING") } # connected before the hang
    hang = raw.send_detached("DEBUG", "SLEEP", "5")
    sleep 0.2
    error = nil
    begin
      client.push("class" => "RecordJob", "args" => [0], "queue" => "default")
    rescue StandardError => e
      error = e
    end
    hang.join(10)
    sleep 0.5 # whatever was queued behind the hang has run

    copies = raw.call("LLEN", "queue:default")
    outcome = error ? "#{error.class}: #{error.message}" : "no error raised"
    warn "perform_async over the hang: #{outcome}, #{copies} enqueued" if ENV["FAULT_LOGS"]
    expect(copies).to be <= 1, "#{copies} copies enqueued (#{outcome})"
    expect(copies).to eq(1), "no error raised, yet nothing enqueued" unless error
  end
end
