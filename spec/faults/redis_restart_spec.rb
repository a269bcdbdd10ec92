# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Redis restarted (with AOF, so it keeps its data) or its connections killed during a drain:
# the process stays up and no job is lost or stranded.
RSpec.describe "Faults: Redis restarted or connections killed during a drain" do
  after { @own_redis&.destroy }

  it "loses no job when Redis (appendonly yes, appendfsync always) is restarted twice during a drain" do
    @own_redis = RedisServer.new(appendonly: true).start
    raw = raw_redis(@own_redis)
    jids = push_record_jobs(raw, 800, seconds: 0.005)
    server = start_fault_server(args: %w[-c 3], redis_url: @own_redis.url, file_records: true)
    wait_registered(server, raw)
    2.times do |round|
      eventually { file_ran_jids.size >= 150 * (round + 1) }
      @own_redis.stop
      sleep 0.5
      @own_redis.start
    end
    expect(file_ran_jids.size).to be < jids.size # the restarts came during the drain

    expect_every_job_ran(jids, redis: raw, within: FaultHelpers::STRANDED_AFTER + 25)
    expect(server).to be_alive
    eventually(timeout: 15) { working_list_keys(raw).sum { |key| raw.call("LLEN", key) }.zero? }
    expect(server.stop).to be_success
  end

  it "loses no job and stays up when every client connection is killed (CLIENT KILL TYPE normal) during a drain" do
    @own_redis = RedisServer.new.start
    raw = raw_redis(@own_redis)
    jids = push_record_jobs(raw, 800, seconds: 0.005)
    server = start_fault_server(args: %w[-c 3], redis_url: @own_redis.url, file_records: true)
    wait_registered(server, raw)
    eventually { file_ran_jids.size >= 100 }
    killed = Array.new(3) do
      sleep 0.3
      raw.call("CLIENT", "KILL", "TYPE", "normal")
    end
    expect(killed.sum).to be > 0
    expect(file_ran_jids.size).to be < jids.size # the kills came during the drain

    expect_every_job_ran(jids, redis: raw, within: FaultHelpers::STRANDED_AFTER + 25)
    expect(server).to be_alive
    eventually(timeout: 15) { working_list_keys(raw).sum { |key| raw.call("LLEN", key) }.zero? }
    expect(server.stop).to be_success
  end
end
