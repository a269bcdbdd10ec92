# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Issue 9, defect 2 and the bad-payload trials: no payload, however malformed, stops the server,
# strands or drops the good jobs around it, or stops the scheduler. Each ends in the dead set
# or the retry set (or ran), and its failure is reported.
RSpec.describe "Faults: bad payloads" do
  ENDS = %w[ran retry dead].freeze
  INVALID_UTF8 = "caf\xE9".b

  def nested(depth)
    ("[" * depth) + ("]" * depth)
  end

  # Every kind of bad payload issue 9 lists, except invalid UTF-8 (examples of its own).
  def malformed_queue_payloads
    {
      "not JSON" => "not json {poison".b,
      "JSON number" => "42".b,
      "JSON array" => "[]".b,
      "unknown class" => payload("NoSuchFaultJob", [1]),
      "class is a number" => payload(42, [1], retry: 0),
      "args missing" => JSON.generate("class" => "OneArgJob", "jid" => new_jid, "queue" => "default", "retry" => 0).b,
      "args a String" => payload("OneArgJob", "x", retry: 0),
      "10 MB payload" => payload("RecordJob", [0, "x" * 10_000_000]),
      "10k-deep nesting" => payload_with_raw("RecordJob", nested(10_000)),
      "huge float" => payload_with_raw("RecordJob", "1e400"),
      "huge float in a failing job" => payload_with_raw("FailJob", "1e400", retry: 0),
      "huge float in a failing job to retry" => payload_with_raw("FailJob", "-1e400")
    }
  end

  it "ends every kind of malformed queue entry in the dead or retry set (or ran), runs the good jobs " \
     "around them, stays up and reports each failure" do
    redis = raw_redis
    bad = malformed_queue_payloads
    good = []
    entries = []
    bad.each_value do |entry|
      jids = Array.new(3) { new_jid }
      good.concat(jids)
      entries.concat(jids.map { |jid| payload("RecordJob", [0], jid:) })
      entries << entry
    end
    tail = Array.new(20) { new_jid }
    good.concat(tail)
    entries.concat(tail.map { |jid| payload("RecordJob", [0], jid:) })
    push_raw(redis, entries)

    server = start_fault_server(args: %w[-c 2])
    bad_keys = bad.transform_values { |entry| jid_of(entry) }
    expect_every_job_ran(good, redis:, within: FaultHelpers::STRANDED_AFTER + 15)
    expect_every_job_accounted_for(bad_keys.values, redis:, places: ENDS)
    expect(server).to be_alive

    located = job_locations(redis)
    failed = bad_keys.reject { |_, key| located[key].include?("ran") }
    explanation = lambda do
      "#{failed.size} bad payloads did not run (#{failed.keys.join(", ")}) but only " \
        "#{error_lines.size} errors were reported:\n#{error_lines.join("\n")}"
    end
    expect(error_lines.size).to be >= failed.size, explanation
    expect(server.stop).to be_success
  end

  it "with reliable fetch, runs the good jobs fetched together with an invalid UTF-8 payload and " \
     "runs or dead-letters the poison, naming it in the log" do
    redis = raw_redis
    before = Array.new(30) { new_jid }
    after = Array.new(30) { new_jid }
    poison_jid = new_jid
    poison = payload_with_raw("RecordJob", "\"#{INVALID_UTF8}\"", jid: poison_jid, retry: 0)
    push_raw(redis, before.map { |jid| payload("RecordJob", [0], jid:) } + [poison] +
                    after.map { |jid| payload("RecordJob", [0], jid:) })

    server = start_fault_server(args: %w[-c 2])
    expect_every_job_ran(before + after, redis:, within: FaultHelpers::STRANDED_AFTER + 12)
    expect_every_job_accounted_for([poison_jid], redis:, places: ENDS)
    located = job_locations(redis)
    unless located[poison_jid].include?("ran")
      expect(server.log.b).to include(poison_jid.b).or include(INVALID_UTF8).or include("caf".b)
    end
    expect(server).to be_alive
    expect(server.stop).to be_success
  end

  it "with basic fetch, does not drop the good jobs fetched together with an invalid UTF-8 payload" do
    redis = raw_redis
    good = Array.new(60) { new_jid }
    poison_jid = new_jid
    poison = payload_with_raw("RecordJob", "\"#{INVALID_UTF8}\"", jid: poison_jid, retry: 0)
    push_raw(redis, good.first(30).map { |jid| payload("RecordJob", [0], jid:) } + [poison] +
                    good.last(30).map { |jid| payload("RecordJob", [0], jid:) })

    server = start_fault_server(args: %w[-c 2 --fetch basic])
    expect_every_job_ran(good, redis:, within: 15)
    expect_every_job_accounted_for([poison_jid], redis:, places: ENDS)
    located = job_locations(redis)
    unless located[poison_jid].include?("ran")
      expect(server.log.b).to include(poison_jid.b).or include(INVALID_UTF8).or include("caf".b)
    end
    expect(server).to be_alive
    expect(server.stop).to be_success
  end

  it "moves an invalid UTF-8 member of schedule or retry to the dead set, logs it, and keeps moving " \
     "every other due job" do
    redis = raw_redis
    server = start_fault_server(args: %w[-c 2])
    wait_registered(server, redis)
    poisons = { "schedule" => INVALID_UTF8, "retry" => "#{INVALID_UTF8} (retry)".b }
    poisons.each { |set, member| redis.call("ZADD", set, 0, member) }
    sleep 1.5 # a scheduler pass or two with only the poisons due

    due = Time.now.to_f + 1
    scheduled = Array.new(10) { new_jid }
    retried = Array.new(5) { new_jid }
    scheduled.each { |jid| redis.call("ZADD", "schedule", due, payload("RecordJob", [0], jid:)) }
    failed_before = { retry_count: 0, error_class: "RuntimeError", error_message: "earlier", failed_at: Time.now.to_f }
    retried.each do |jid|
      redis.call("ZADD", "retry", due, payload("RecordJob", [0], jid:, **failed_before))
    end

    expect_every_job_ran(scheduled + retried, redis:, within: 15)
    dead = redis.call("ZRANGE", "dead", 0, -1)
    expect(dead).to include(*poisons.values)
    expect(redis.call("ZCARD", "schedule") + redis.call("ZCARD", "retry")).to eq(0)
    expect(server.log.b).to include("caf".b)
    expect(server).to be_alive
    expect(server.stop).to be_success
  end

  it "ends every other kind of malformed schedule or retry member in the dead or retry set (or ran) " \
     "and keeps moving the good ones" do
    redis = raw_redis
    server = start_fault_server(args: %w[-c 2])
    wait_registered(server, redis)
    members = {
      "schedule" => ["not json {".b, "42".b, "[]".b, payload("NoSuchFaultJob", [1]), payload(42, [1], retry: 0),
                     payload_with_raw("RecordJob", nested(10_000)), payload_with_raw("RecordJob", "1e400"),
                     payload("RecordJob", [0]).sub('"queue":"default",'.b, "".b).sub('"retry":true,'.b, "".b)],
      "retry" => ["{nope".b, "[1,2]".b, payload_with_raw("FailJob", "1e400", retry: 0)]
    }
    good = Array.new(10) { new_jid }
    due = Time.now.to_f + 0.5
    members.each { |set, list| list.each { |member| redis.call("ZADD", set, due, member) } }
    good.each { |jid| redis.call("ZADD", "schedule", due, payload("RecordJob", [0], jid:)) }

    expect_every_job_ran(good, redis:, within: 15)
    expect_every_job_accounted_for(members.values.flatten.map { |member| jid_of(member) }, redis:, places: ENDS)
    expect(server).to be_alive
    expect(server.stop).to be_success
  end
end
