# frozen_string_literal: true

require_relative "../support/fault_helpers"

# Issue 9, defect 5: jobs stranded in a live process's own working list (a retry or dead-set
# write that failed, a job that killed its thread or raised a non-StandardError, a corrupt
# retry_count, 1e400 in a failing job's args) are re-delivered by the sweep within
# stranded_after, and a worker thread that dies is replaced.
RSpec.describe "Faults: jobs stranded in a live process's working list" do
  after { @own_redis&.destroy }

  it "ends every failing job in the retry or dead set once Redis, out of memory (noeviction) while their " \
     "failures were written, has room again" do
    @own_redis = RedisServer.new(maxmemory: "20mb").start
    raw = raw_redis(@own_redis)
    server = start_fault_server(args: %w[-c 2], redis_url: @own_redis.url, file_records: true)
    wait_registered(server, raw)

    retry_jids = Array.new(15) { new_jid }
    dead_jids = Array.new(15) { new_jid }
    payloads = retry_jids.map { |jid| payload("FailJob", [1], jid:) } +
               dead_jids.map { |jid| payload("FailJob", [1], jid:, retry: 0) }
    # The jobs and a big key in one transaction: from then on Redis refuses writes that need memory.
    replies = raw.pipeline([%w[MULTI], %w[SADD queues default], ["LPUSH", "queue:default", *payloads.shuffle],
                            ["SETRANGE", "big", 25_000_000, "x"], %w[EXEC]])
    expect(replies.last).to be_an(Array)
    eventually(timeout: 20) { (attempts & (retry_jids + dead_jids)).size == 30 }
    sleep 1
    expect(raw.call("ZCARD", "retry") + raw.call("ZCARD", "dead")).to be < 30 # the writes did fail

    raw.call("DEL", "big")
    expect_every_job_accounted_for(retry_jids + dead_jids, redis: raw, places: %w[retry dead],
                                                           within: FaultHelpers::STRANDED_AFTER + 12)
    expect(server).to be_alive
    expect(server.log + error_lines.join("\n")).to match(/OOM|maxmemory|memory/i)
    expect(server.stop).to be_success
  end

  it "re-delivers the jobs of threads that killed themselves (Thread#kill) and replaces those threads: " \
     "after 5 such jobs at -c 2, later jobs still run" do
    redis = raw_redis
    server = start_fault_server(args: %w[-c 2])
    wait_registered(server, redis)
    killers = Array.new(5) { new_jid }
    push_raw(redis, killers.map { |jid| payload("KillThreadJob", [], jid:) })
    within?(10) { Dir.children(marks_dir).size >= 5 }
    later = push_record_jobs(redis, 20)

    expect_every_job_ran(later + killers, redis:, within: FaultHelpers::STRANDED_AFTER + 15)
    expect(Dir.children(marks_dir).size).to eq(5)
    expect(server).to be_alive
    expect(server.stop).to be_success
  end

  it "ends jobs that raised a non-StandardError, have a corrupt retry_count or 1e400 in a failing job's args " \
     "in the retry or dead set (or ran), reports each, and keeps every worker thread" do
    redis = raw_redis
    odd = {
      "raise NoMemoryError" => payload("NonStandardErrorJob", ["NoMemoryError"]),
      "exit" => payload("NonStandardErrorJob", ["exit"]),
      "raise Exception" => payload("NonStandardErrorJob", ["Exception"], retry: 0),
      "retry_count \"abc\"" => payload("FailJob", [1], retry_count: "abc", error_message: "earlier",
                                                       error_class: "RuntimeError", failed_at: Time.now.to_f),
      "1e400 in args, retried" => payload_with_raw("FailJob", "1e400"),
      "1e400 in args, retry: 0" => payload_with_raw("FailJob", "1e400", retry: 0)
    }
    odd_jids = odd.transform_values { |entry| jid_of(entry) }
    push_raw(redis, odd.values)
    later = push_record_jobs(redis, 10)

    server = start_fault_server(args: %w[-c 2])
    expect_every_job_accounted_for(odd_jids.values, redis:, places: %w[ran retry dead],
                                                    within: FaultHelpers::STRANDED_AFTER + 12)
    expect_every_job_ran(later, redis:, within: 10)
    ran = job_locations(redis).select { |_, where| where.include?("ran") }.keys
    reports = error_lines.join("\n") + server.log
    unreported = odd_jids.reject { |_, jid| ran.include?(jid) || reports.include?(jid) }
    expect(unreported).to be_empty, -> { "failures neither reported nor logged: #{unreported.keys.join(", ")}" }
    expect(server).to be_alive
    expect(server.stop).to be_success
  end
end
