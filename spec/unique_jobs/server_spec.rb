# frozen_string_literal: true

require "sidekiq/api"
require "sidekiq_unique_jobs"

# Lock lifetimes, runtime conflicts and the reaper, in real `exe/sidekiq` processes
# (docs/design.md, §24).
RSpec.describe "Unique jobs in the server" do # rubocop:disable Metrics/BlockLength
  UNIQUE_SERVER_JOBS = <<~RUBY # rubocop:disable Lint/ConstantDefinitionInBlock
    require "sidekiq_unique_jobs"

    SidekiqUniqueJobs.configure do |config|
      config.reaper_interval = 1
      config.reaper_grace = Integer(ENV.fetch("REAPER_GRACE", "1"))
    end

    # Records each run, and the holders of its lock while it runs.
    module UniqueRecording
      def record(name)
        Sidekiq.redis { |c| c.rpush("runs", Sidekiq.dump_json([name, jid, lock_holders])) }
      end

      def lock_holders
        Sidekiq.redis { |c| c.call("KEYS", "uniquejobs:*:LOCKED") }.sort
      end
    end

    class ExecutedJob
      include Sidekiq::Job
      include UniqueRecording
      sidekiq_options lock: :until_executed, retry: 1
      sidekiq_retry_in { 1 }
      def perform(fail = false, _index = 0)
        record("executed")
        raise "failed on purpose" if fail
      end
    end

    class ExecutingJob
      include Sidekiq::Job
      include UniqueRecording
      sidekiq_options lock: :until_executing
      def perform(arg)
        record("executing")
        Sidekiq.redis { |c| c.rpush("twins", Sidekiq.dump_json(ExecutingJob.perform_async(arg))) }
      end
    end

    # Counts how many runs overlap: a while_executing lock allows one at a time.
    class WhileJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing, lock_timeout: 10
      def perform(*)
        now = Sidekiq.redis { |c| c.incr("running") }
        Sidekiq.redis { |c| c.rpush("overlap", now) }
        sleep 0.3
        Sidekiq.redis { |c| c.decr("running") }
      end
    end

    # Runs until a second run overlaps it (or 5 s pass), recording how many ran at once: with
    # lock_limit 2, two runs hold the :RUN lock together and a third waits.
    class LimitedWhileJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing, lock_timeout: 30, lock_limit: 2
      def perform(*)
        Sidekiq.redis { |c| c.incr("running") }
        deadline = Time.now + 5
        sleep 0.05 until Sidekiq.redis { |c| c.get("running") }.to_i >= 2 || Time.now > deadline
        Sidekiq.redis { |c| c.rpush("overlap", c.get("running")) }
        sleep 0.2
        Sidekiq.redis { |c| c.decr("running") }
      end
    end

    class RejectJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing, on_conflict: :reject, retry: 0
      def perform(*) = Sidekiq.redis { |c| c.rpush("ran", "reject") }
    end

    class RescheduleJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing, on_conflict: :reschedule, schedule_in: 3600
      def perform(*) = Sidekiq.redis { |c| c.rpush("ran", "reschedule") }
    end

    class RaiseJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing, on_conflict: { server: :raise }
      def perform(*) = Sidekiq.redis { |c| c.rpush("ran", "raise") }
    end

    class LogJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing, on_conflict: :log
      def perform(*) = Sidekiq.redis { |c| c.rpush("ran", "log") }
    end

    class BothJob
      include Sidekiq::Job
      include UniqueRecording
      # The twin is pushed while this job holds its :RUN lock; it may be fetched before that
      # lock is gone, and without a timeout it would be skipped (the plugin's semantics).
      sidekiq_options lock: :until_and_while_executing, lock_timeout: 10
      def perform(arg)
        record("both")
        first_run = Sidekiq.redis { |c| c.incr("both_runs") } == 1
        Sidekiq.redis { |c| c.rpush("twins", Sidekiq.dump_json(BothJob.perform_async(arg))) } if first_run
      end
    end

    class ExpiringJob
      include Sidekiq::Job
      # Long enough for a loaded machine to run the job and push again within it.
      sidekiq_options lock: :until_expired, lock_ttl: 8
      def perform = Sidekiq.redis { |c| c.rpush("ran", jid) }
    end

    # Records the lock ages (the digests set's scores) while it runs.
    class AgeJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed
      def perform
        scores = Sidekiq.redis { |c| c.call("ZRANGE", "uniquejobs:digests", 0, -1, "WITHSCORES") }
        Sidekiq.redis { |c| c.rpush("ages", Sidekiq.dump_json(scores)) }
      end
    end

    class SleepyJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed
      def perform
        Sidekiq.redis { |c| c.rpush("sleepy", jid) }
        sleep 600
      end
    end
  RUBY

  before(:all) { eval(UNIQUE_SERVER_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  after { Ferrokiq::UniqueJobs.reset_settings! }

  def runs
    redis_json_list("runs")
  end

  def locks
    Sidekiq.redis { |conn| conn.call("KEYS", "uniquejobs:*") }.sort
  end

  def dead_jids
    Sidekiq::DeadSet.new.map(&:jid)
  end

  it "holds an until_executed lock while the job runs and releases it on success" do
    jid = ExecutedJob.perform_async
    start_server(jobs: UNIQUE_SERVER_JOBS)
    eventually { locks.empty? }
    expect(runs.map { |name, run_jid, _| [name, run_jid] }).to eq([["executed", jid]])
    expect(runs.first.last.size).to eq(1)
    expect(ExecutedJob.perform_async).to be_a(String)
  end

  # The engine releases the locks with its acknowledgements: after the LREM with reliable fetch,
  # alone with basic fetch, where it has no working list to clean (docs/design.md, §24).
  [["reliable"], ["basic", "--fetch", "basic"]].each do |fetch, *args|
    it "releases the until_executed locks of many jobs on success with #{fetch} fetch" do
      jids = Array.new(30) { |n| ExecutedJob.perform_async(false, n) }
      expect(jids).to all(be_a(String))
      expect(locks.grep(/:LOCKED\z/).size).to eq(30)
      start_server(jobs: UNIQUE_SERVER_JOBS, args:)
      eventually { locks.empty? }
      expect(runs.map { |_, run_jid, _| run_jid }).to match_array(jids)
      expect(ExecutedJob.perform_async(false, 0)).to be_a(String)
    end
  end

  # A job that reaches a queue without its lock (pushed by a client without the plugin, or a
  # periodic tick put back after its process died) takes it when it runs, as the plugin's
  # server does; one whose digest another job holds is skipped.
  it "takes the lock of a job pushed without one before perform, or skips it when the lock is held" do
    twin = ExecutedJob.perform_in(3600, false, 8)
    held = locks
    unlocked = lambda do |jid, index|
      Sidekiq.dump_json("class" => "ExecutedJob", "args" => [false, index], "jid" => jid, "queue" => "default",
                        "lock" => "until_executed", "retry" => 1, "created_at" => Time.now.to_f)
    end
    Sidekiq.redis do |conn|
      conn.sadd("queues", "default")
      conn.lpush("queue:default", unlocked.call("b" * 24, 8)) # fetched first: the twin holds its lock
      conn.lpush("queue:default", unlocked.call("a" * 24, 7))
    end
    start_server(jobs: UNIQUE_SERVER_JOBS, args: ["-c", "1"])
    eventually { runs.size == 1 }
    eventually { locks == held }
    name, jid, holders = runs.first
    expect([name, jid]).to eq(["executed", "a" * 24])
    expect(holders.size).to eq(2) # its own lock and the twin's
    expect(Sidekiq::Queue.new.size).to eq(0)
    digest = held.find { |key| key.end_with?(":LOCKED") }
    expect(Sidekiq.redis { |conn| conn.hkeys(digest) }).to eq([twin])
  end

  # Scored by when its TTL ends, as at a push: the reaper (1 s grace here) leaves it alone.
  it "takes an until_expired lock for a job pushed without one, and leaves it to its TTL" do
    expiring = Sidekiq.dump_json("class" => "ExpiringJob", "args" => [], "jid" => "e" * 24, "queue" => "default",
                                 "lock" => "until_expired", "lock_ttl" => 8, "created_at" => Time.now.to_f)
    Sidekiq.redis do |conn|
      conn.sadd("queues", "default")
      conn.lpush("queue:default", expiring)
    end
    start_server(jobs: UNIQUE_SERVER_JOBS)
    eventually { redis_list("ran") == ["e" * 24] }
    sleep 2.5 # two reaper passes
    expect(ExpiringJob.perform_async).to be_nil
  end

  # Its retry is made from the payload as fetched, without the fields: the death computes the
  # digest again. The reaper (600 s grace here) would free the lock only much later.
  it "gives back the lock a job without the plugin's fields took, when the job dies" do
    dying = Sidekiq.dump_json("class" => "ExecutedJob", "args" => [true, 5], "jid" => "c" * 24, "queue" => "default",
                              "lock" => "until_executed", "retry" => 0, "created_at" => Time.now.to_f)
    Sidekiq.redis do |conn|
      conn.sadd("queues", "default")
      conn.lpush("queue:default", dying)
    end
    start_server(jobs: UNIQUE_SERVER_JOBS, env: { "REAPER_GRACE" => "600" })
    eventually { dead_jids == ["c" * 24] }
    eventually { locks.empty? }
    expect(runs.map { |name, jid, holders| [name, jid, holders.size] }).to eq([["executed", "c" * 24, 1]])
  end

  # Sidekiq 6.4.1 without the plugin writes the class's `lock` option into the payload and
  # takes no lock; this server locks the job as the plugin's server would.
  it "locks a job Sidekiq 6.4.1 pushed with a lock option and no plugin", if: SidekiqPeer.available? do
    jid = SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url).strip
      class ExecutedJob
        include Sidekiq::Worker
        sidekiq_options lock: :until_executed, retry: 1
      end
      puts ExecutedJob.perform_async(false, 9)
    RUBY
    expect(locks).to be_empty
    start_server(jobs: UNIQUE_SERVER_JOBS)
    eventually { runs.size == 1 }
    eventually { locks.empty? }
    name, ran, holders = runs.first
    expect([name, ran, holders.size]).to eq(["executed", jid, 1])
  end

  # With basic fetch the age is renewed before perform only when the reaper could look at the
  # lock before a beat records the job (docs/design.md, §24).
  it "renews a basic-fetched lock's age only when the reaper could reach it" do
    pushed_at = AgeJob.perform_async && lock_age
    young = start_server(jobs: UNIQUE_SERVER_JOBS, args: ["--fetch", "basic"], env: { "REAPER_GRACE" => "60" })
    eventually { locks.empty? }
    young.stop
    # A reaper_grace of 1 s: within a beat's reach at once.
    pushed_again_at = AgeJob.perform_async && lock_age
    start_server(jobs: UNIQUE_SERVER_JOBS, args: ["--fetch", "basic"])
    eventually { locks.empty? }
    first, second = redis_json_list("ages").map { |scores| scores.flatten.last.to_f }
    expect(first).to eq(pushed_at)
    expect(second).to be > pushed_again_at
  end

  def lock_age
    Sidekiq.redis { |conn| conn.call("ZRANGE", "uniquejobs:digests", 0, -1, "WITHSCORES") }.flatten.last.to_f
  end

  it "keeps an until_executed lock through a retry and releases it when the job dies" do
    jid = ExecutedJob.perform_async(true)
    start_server(jobs: UNIQUE_SERVER_JOBS)
    eventually { dead_jids == [jid] }
    expect(runs.size).to eq(2)
    expect(runs.map(&:last)).to all(satisfy { |holders| holders.size == 1 })
    eventually { locks.empty? }
  end

  it "releases an until_executing lock before perform, so the job's twin may be queued" do
    ExecutingJob.perform_async(1)
    server = start_server(jobs: UNIQUE_SERVER_JOBS)
    eventually { redis_list("twins").size >= 2 }
    server.stop
    expect(runs.first[2]).to be_empty
    expect(JSON.parse(redis_list("twins").first)).to be_a(String)
  end

  it "runs while_executing jobs one at a time, waiting up to lock_timeout" do
    3.times { WhileJob.perform_async(1) }
    start_server(jobs: UNIQUE_SERVER_JOBS, args: ["-c", "3"])
    eventually { redis_list("overlap").size == 3 && Sidekiq.redis { |c| c.get("running") } == "0" }
    expect(redis_list("overlap")).to eq(%w[1 1 1])
  end

  it "runs up to lock_limit while_executing jobs at once" do
    4.times { LimitedWhileJob.perform_async(1) }
    start_server(jobs: UNIQUE_SERVER_JOBS, args: ["-c", "4"])
    eventually(timeout: 60) { redis_list("overlap").size == 4 && Sidekiq.redis { |c| c.get("running") } == "0" }
    expect(redis_list("overlap").map(&:to_i).max).to eq(2)
    expect(locks.grep(/:LOCKED\z/)).to be_empty
  end

  it "lets until_and_while_executing queue a twin while it runs" do
    BothJob.perform_async(1)
    start_server(jobs: UNIQUE_SERVER_JOBS)
    eventually { runs.size == 2 }
    expect(JSON.parse(redis_list("twins").first)).to be_a(String)
    expect(runs.first[2].size).to eq(1)
    expect(runs.first[2].first).to end_with(":RUN:LOCKED")
    eventually { locks.empty? }
  end

  it "keeps an until_expired lock after the job ran, until its TTL ends" do
    # The TTL runs from the push: the server is up first, so the job runs well within it.
    start_server(jobs: UNIQUE_SERVER_JOBS).wait_until_running
    jid = ExpiringJob.perform_async
    eventually { redis_list("ran") == [jid] }
    # The reaper (every second here, 1 s grace) frees locks whose job is gone; not this one.
    sleep 3
    expect(ExpiringJob.perform_async).to be_nil
    eventually(timeout: 20, interval: 0.2) { ExpiringJob.perform_async }
  end

  describe "server conflict strategies" do
    # Holds each class's runtime lock as another job would, then lets the server meet it.
    def conflicting(klass)
      jid = klass.perform_async(1)
      digest = JSON.parse(redis_list("queue:default").first)["lock_digest"]
      Sidekiq.redis { |conn| conn.call("HSET", "#{digest}:RUN:LOCKED", "f" * 24, Time.now.to_f) }
      jid
    end

    it "applies :reject, :reschedule, :raise and :log" do
      rejected = conflicting(RejectJob)
      rescheduled = conflicting(RescheduleJob)
      raised = conflicting(RaiseJob)
      logged = conflicting(LogJob)
      server = start_server(jobs: UNIQUE_SERVER_JOBS)
      eventually { dead_jids == [rejected] && Sidekiq::RetrySet.new.size == 1 && Sidekiq::ScheduledSet.new.size == 1 }
      eventually { server.log.include?("Skipping job with id (#{logged})") }
      expect(redis_list("ran")).to be_empty
      expect(Sidekiq::RetrySet.new.first.jid).to eq(raised)
      again = Sidekiq::ScheduledSet.new.first
      expect(again.item).to include("class" => "RescheduleJob", "rescheduled" => true)
      expect(again.jid).not_to eq(rescheduled)
      expect(again.at.to_f).to be > Time.now.to_f + 3000
    end
  end

  it "frees the lock of a job lost with a process killed with -9 (basic fetch), by the reaper" do
    jid = SleepyJob.perform_async
    victim = start_server(jobs: UNIQUE_SERVER_JOBS, args: ["--fetch", "basic"]).wait_until_running
    eventually { redis_list("sleepy") == [jid] }
    victim.kill!
    expect(SleepyJob.perform_async).to be_nil
    start_server(jobs: UNIQUE_SERVER_JOBS).wait_until_running
    # The dead process's heartbeat key lives up to 60 s; after that its work no longer counts.
    eventually(timeout: 120) { locks.empty? }
    expect(SleepyJob.perform_async).to be_a(String)
  end
end
