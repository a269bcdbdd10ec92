# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Issue 9, defect 1: processes that start together, or a live process whose heartbeat key is
# gone, must never be taken for dead; the working-list registry `ferrokiq:working` is
# re-asserted every 10 seconds, so a lost entry comes back within that.
RSpec.describe "Faults: start race and liveness" do
  # The old and the new wording of a recovery line.
  LEFT_BEHIND = /left behind by processes that died|left by process/

  def registry(redis)
    redis.call("HGETALL", "ferrokiq:working").each_slice(2).to_h do |field, value|
      [field.dup.force_encoding("UTF-8"), value.dup.force_encoding("UTF-8")]
    end
  end

  def working_key(identity, queue = "default")
    "ferrokiq:working:#{identity}:#{queue}"
  end

  it "registers the working list of every one of three processes started at the same instant (five times), " \
     "logs no false recovery, and loses nothing when one is then killed with SIGKILL" do
    redis = raw_redis
    problems = []
    all_jids = []
    5.times do |round|
      jids = push_record_jobs(redis, 60, seconds: 0.3)
      all_jids.concat(jids)
      trio = Array.new(3) { start_fault_server(args: %w[-c 2]) } # spawned back to back
      identities = trio.to_h { |server| [server, wait_registered(server, redis)] }
      sleep 0.5 # every one has beaten and fetched
      entries = registry(redis)
      unregistered = identities.reject { |_, identity| entries.key?(working_key(identity)) }
      unless unregistered.empty?
        problems << "round #{round + 1}: #{unregistered.size} of 3 live processes have no registry entry " \
                    "(HLEN ferrokiq:working = #{entries.size}, live processes: #{identities.values.inspect})"
      end
      trio.each do |server|
        problems << "round #{round + 1}: a false recovery in pid #{server.pid}'s log" if server.log.match?(LEFT_BEHIND)
      end

      # The process missing from the registry if there is one (the issue's repro), else the
      # one holding the most jobs.
      victim = unregistered.keys.first ||
               identities.max_by { |_, identity| redis.call("LLEN", working_key(identity)) }.first
      victim.kill!
      fresh = start_fault_server(args: %w[-c 2])
      wait_registered(fresh, redis)
      missing = {}
      within?(20) { (missing = unaccounted(jids, redis, places: ["ran"])).empty? }
      problems << "round #{round + 1}: #{describe_unaccounted(missing, ["ran"])}" unless missing.empty?
      survivors = trio - [victim] + [fresh]
      survivors.each { |server| server.signal("TERM") }
      survivors.each do |server|
        status = server.wait
        problems << "round #{round + 1}: pid #{server.pid} exited with #{status.inspect}" unless status.success?
      end
    end
    expect(problems).to be_empty, -> { problems.join("\n") }
    expect_every_job_ran(all_jids, redis:, within: 5)
  end

  it "does not take a live process whose heartbeat key expired for dead when a sibling starts: " \
     "no re-queued in-flight jobs, its registry entry stays, and a later SIGKILL of it loses nothing" do
    redis = raw_redis
    jids = push_record_jobs(redis, 12, seconds: 2)
    paused = start_fault_server(args: %w[-c 2])
    identity = wait_registered(paused, redis)
    eventually { started_jids.size >= 2 }
    # What a long pause looks like from outside: the heartbeat key has expired.
    redis.call("DEL", identity)

    sibling = start_fault_server(args: %w[-c 2])
    wait_registered(sibling, redis)
    sleep 0.5
    aggregate_failures "the sibling's start" do
      expect(registry(redis)).to include(working_key(identity))
      expect(sibling.log).not_to match(LEFT_BEHIND)
    end

    # Both run for a while: no job runs twice meanwhile (a false recovery re-queues the
    # paused process's running jobs, which the sibling then runs again).
    sleep 2.5
    expect(run_counts(redis).select { |_, count| count > 1 }).to be_empty

    # The paused process dies for real: whatever it holds must be recovered.
    paused.kill!
    fresh = start_fault_server(args: %w[-c 2])
    wait_registered(fresh, redis)
    expect_every_job_ran(jids, redis:, within: 30)
    expect([sibling.stop, fresh.stop]).to all(be_success)
  end

  it "re-asserts its registry entry (identity, queue, time) within 10 seconds after it was removed" do
    redis = raw_redis
    server = start_fault_server(args: %w[-c 2 -q default -q low])
    identity = wait_registered(server, redis)
    keys = [working_key(identity, "default"), working_key(identity, "low")]
    eventually { keys.all? { |key| registry(redis).key?(key) } }

    aggregate_failures "the entry's value" do
      keys.zip(%w[default low]).each do |key, queue|
        owner, list_queue, asserted_at = registry(redis).fetch(key).split("\n")
        expect([owner, list_queue]).to eq([identity, queue])
        expect(Float(asserted_at, exception: false)).to be_within(30).of(Time.now.to_f)
      end
    end

    redis.call("HDEL", "ferrokiq:working", *keys)
    back = within?(13) { keys.all? { |key| registry(redis).key?(key) } }
    expect(back).to be(true), "the registry entries were not re-asserted within 13 s: #{registry(redis).keys.inspect}"
    expect(server).to be_alive
  end

  it "recovers another host's working list only once its registry entry has not been re-asserted for 90 s" do
    redis = raw_redis
    now = Time.now.to_i
    fresh_identity = "otherhost:1111:aaaaaaaaaaaa"
    stale_identity = "otherhost:2222:bbbbbbbbbbbb"
    fresh_jids = Array.new(2) { new_jid }
    stale_jids = Array.new(2) { new_jid }
    # Neither has a heartbeat key (as after a long pause, or a crash).
    redis.call("HSET", "ferrokiq:working",
               working_key(fresh_identity), "#{fresh_identity}\ndefault\n#{now - 5}",
               working_key(stale_identity), "#{stale_identity}\ndefault\n#{now - 200}")
    redis.call("LPUSH", working_key(fresh_identity), *fresh_jids.map { |jid| payload("RecordJob", [0], jid:) })
    redis.call("LPUSH", working_key(stale_identity), *stale_jids.map { |jid| payload("RecordJob", [0], jid:) })

    server = start_fault_server(args: %w[-c 2])
    wait_registered(server, redis)
    sleep 1 # the start-up recovery has run
    aggregate_failures "the entry asserted 5 s ago" do
      expect(registry(redis)).to include(working_key(fresh_identity))
      expect(redis.call("LLEN", working_key(fresh_identity))).to eq(2)
      expect(ran_jids(redis) & fresh_jids).to be_empty
    end
    expect_every_job_ran(stale_jids, redis:, within: 15)
    expect(server.stop).to be_success
  end
end
