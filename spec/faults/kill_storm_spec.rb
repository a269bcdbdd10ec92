# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Reliable fetch under repeated SIGKILL of processes sharing one queue (issue 9: the test
# reliable fetch already passed; kept as a guard).
RSpec.describe "Faults: kill -9 storm" do
  it "runs every job at least once while one of three processes is killed with SIGKILL and replaced, five times" do
    redis = raw_redis
    jids = push_record_jobs(redis, 3000, seconds: 0.04)
    servers = Array.new(3) { start_fault_server(args: %w[-c 5]) }
    servers.each { |server| wait_registered(server, redis) }
    eventually { ran_jids(redis).size > 50 }

    queued_at_kills = []
    5.times do |round|
      sleep 1.5
      victim = servers.delete_at(round % servers.size)
      victim.kill!
      queued_at_kills << redis.call("LLEN", "queue:default")
      servers << start_fault_server(args: %w[-c 5])
    end
    # The storm hit a drain in progress.
    expect(queued_at_kills.last).to be > 0

    # The survivors and the replacements drain the rest, recovering the killed ones' lists.
    expect_every_job_ran(jids, redis:, within: 90)
    expect(redis.call("LLEN", "queue:default")).to eq(0)
    eventually(timeout: 15) { working_list_keys(redis).sum { |key| redis.call("LLEN", key) }.zero? }
    expect(servers).to all(be_alive)
    statuses = servers.map(&:stop)
    expect(statuses).to all(be_success)
  end
end
