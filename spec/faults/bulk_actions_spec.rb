# frozen_string_literal: true

require "sidekiq/api"
require_relative "../support/fault_helpers"

# Retry all / Add all to queue / Kill all on a large set with Redis killed midway (AOF with an
# fsync per write, so what Redis acknowledged survives): every job is in exactly one place
# afterwards, none duplicated, and running the action again finishes it. The batched path
# (Sidekiq::BulkMove) moves a batch per Lua script; the kill comes while Redis is paused
# between two batches, after some have moved.
RSpec.describe "Faults: bulk actions on a sorted set when Redis dies midway" do # rubocop:disable Metrics/BlockLength
  before do
    @own_redis = RedisServer.new(appendonly: true).start
    @raw = raw_redis(@own_redis)
    Thread.current[:sidekiq_redis_pool] = Sidekiq::RedisConnection.create(url: @own_redis.url, timeout: 2)
  end

  after do
    Thread.current[:sidekiq_redis_pool] = nil
    @own_redis.destroy
  end

  def total = 30_000

  def jid(index) = format("%024x", index)

  def seed(set)
    (0...total).each_slice(1_000) do |slice|
      members = slice.flat_map do |i|
        [(1_700_000_000 + i).to_s, payload("BulkJob", [i], jid: jid(i), queue: "q#{i % 3}", retry_count: 4)]
      end
      @raw.call("ZADD", set, *members)
    end
  end

  def queued
    %w[q0 q1 q2].flat_map { |name| @raw.call("LRANGE", "queue:#{name}", 0, -1) }
  end

  def queued_count
    %w[q0 q1 q2].sum { |name| @raw.call("LLEN", "queue:#{name}") }
  end

  # Every seeded job exactly once in +jids+: none missing, none twice. (Not match_array, whose
  # failure message over 30k elements takes minutes to compute.)
  def expect_each_job_once(jids)
    expect(jids.tally.select { |_, count| count > 1 }.keys).to eq([])
    expect(Array.new(total) { |i| jid(i) } - jids).to eq([])
    expect(jids.size).to eq(total)
  end

  def jids_in(members)
    members.map { |member| JSON.parse(member)["jid"] }
  end

  # Waits (on a connection of its own) until +moved+ says some batches have moved, then
  # pauses Redis's writes, so that the action stops between two batches, and kills Redis.
  def kill_redis_when(moved)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
    Thread.new do
      sleep 0.001 until moved.call || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      @raw.call("CLIENT", "PAUSE", "10000", "WRITE")
      @own_redis.kill!
    end
  end

  # Runs the block on +set+ until Redis is killed, restarts it; returns the error raised.
  def interrupted(set, moved)
    killer = kill_redis_when(moved)
    error = begin
      yield Sidekiq.const_get(set)
      nil
    rescue StandardError => e
      e
    end
    killer.join
    @own_redis.start
    error
  end

  it "retry_all: each job is in the retry set or its queue, once, and a second retry_all moves the rest" do
    seed("retry")
    error = interrupted(:RetrySet, -> { queued_count >= 3_000 }) { |set| set.new.retry_all }
    expect(error).not_to be_nil # Redis died before the end: the action did not finish
    left = jids_in(@raw.call("ZRANGE", "retry", 0, -1))
    pushed = jids_in(queued)
    expect(left).not_to be_empty
    expect(pushed.size).to be >= 3_000
    expect_each_job_once(left + pushed)

    Sidekiq::RetrySet.new.retry_all
    expect(@raw.call("ZCARD", "retry")).to eq(0)
    jobs = queued.map { |member| JSON.parse(member) }
    expect_each_job_once(jobs.map { |job| job["jid"] })
    # Each job's manual retry was counted once: not lowered twice, not skipped.
    expect(jobs.map { |job| job["retry_count"] }.uniq).to eq([3])
  end

  it "add_all_to_queue on the schedule: each job in one place, the retry count untouched" do
    seed("schedule")
    error = interrupted(:ScheduledSet, -> { queued_count >= 3_000 }) { |set| set.new.add_all_to_queue }
    expect(error).not_to be_nil
    left = jids_in(@raw.call("ZRANGE", "schedule", 0, -1))
    expect_each_job_once(left + jids_in(queued))

    Sidekiq::ScheduledSet.new.add_all_to_queue
    jobs = queued.map { |member| JSON.parse(member) }
    expect_each_job_once(jobs.map { |job| job["jid"] })
    expect(jobs.map { |job| job["retry_count"] }.uniq).to eq([4])
  end

  it "kill_all: each job is in the retry set or the dead set, once" do
    Sidekiq.default_configuration[:dead_max_jobs] = total * 2
    reported = []
    allow(Sidekiq.default_configuration).to receive(:handle_exception) { |_ex, context| reported << context[:context] }
    seed("retry")
    error = interrupted(:RetrySet, -> { @raw.call("ZCARD", "dead") >= 3_000 }) { |set| set.new.kill_all }
    expect(error).not_to be_nil
    # The trim after the failure could not run either: reported, not raised over the failure.
    expect(reported).to eq(["Could not trim the dead set after kill_all of retry failed"])
    left = jids_in(@raw.call("ZRANGE", "retry", 0, -1))
    dead = jids_in(@raw.call("ZRANGE", "dead", 0, -1))
    expect(left).not_to be_empty
    expect_each_job_once(left + dead)

    Sidekiq::RetrySet.new.kill_all
    expect_each_job_once(jids_in(@raw.call("ZRANGE", "dead", 0, -1)))
  ensure
    Sidekiq.default_configuration[:dead_max_jobs] = Sidekiq::Config::DEFAULTS[:dead_max_jobs]
  end
end
