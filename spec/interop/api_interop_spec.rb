# frozen_string_literal: true

require "sidekiq/api"

# The Data API across implementations: Ferrokiq's API on what Debian's Sidekiq 6.4.1 wrote (in a
# separate process), and Sidekiq 6.4.1's API on what Ferrokiq's API wrote or changed.
RSpec.describe "Data API interop with Sidekiq 6.4.1", if: SidekiqPeer.available? do
  # Peer jobs: one that waits for a key (to be seen busy) and one that always fails, with
  # retries an hour apart so they stay in the retry set. (A method, not a constant: a constant
  # here would be defined at the top level, for every spec.)
  def peer_jobs
    <<~RUBY
      class HoldJob
        include Sidekiq::Worker
        def perform(*)
          sleep 0.05 until Sidekiq.redis { |conn| conn.get("release") }
        end
      end

      class FailJob
        include Sidekiq::Worker
        sidekiq_options retry: 5, backtrace: true
        sidekiq_retry_in { 3600 }
        def perform(*)
          raise ArgumentError, "peer failure"
        end
      end
    RUBY
  end

  let(:deaths) { [] }
  let(:death_handler) { ->(job, ex) { deaths << [job["jid"], ex.message] } }

  before { Sidekiq.default_configuration.death_handlers << death_handler }
  after { Sidekiq.default_configuration.death_handlers.delete(death_handler) }

  def peer(script)
    JSON.parse(SidekiqPeer.run("require \"sidekiq/api\"\n#{script}", redis_url: REDIS.url))
  end

  def zset(name)
    Sidekiq.redis { |conn| conn.call("ZRANGE", name, 0, -1, "WITHSCORES") }
  end

  it "reads a Sidekiq 6.4.1 process and its busy thread, and quiets it (6.4.1 sees it quiet)" do
    jid = peer(<<~RUBY)
      puts JSON.generate(Sidekiq::Client.push("class" => "HoldJob", "args" => ["held"]))
    RUBY
    SidekiqPeer.with_server(peer_jobs, redis_url: REDIS.url, concurrency: 2) do
      work = eventually(timeout: 30) { Sidekiq::WorkSet.new.find_work(jid) }
      process = Sidekiq::ProcessSet.new.find { |p| p.identity == work.process_id }
      expect(process["concurrency"]).to eq(2)
      expect(process.queues).to eq(["default"])
      expect(process["busy"]).to eq(1)
      expect(process.stopping?).to be(false)
      expect(work.queue).to eq("default")
      expect(work.job.args).to eq(["held"])
      expect(Sidekiq::Stats.new.workers_size).to eq(1)

      process.quiet!
      eventually(timeout: 20) { Sidekiq::ProcessSet[process.identity].stopping? }
      seen = peer(<<~RUBY)
        puts JSON.generate(Sidekiq::ProcessSet.new.map { |p| [p.identity, p.stopping?] })
      RUBY
      expect(seen).to eq([[process.identity, true]])
      Sidekiq.redis { |conn| conn.call("SET", "release", "1") }
    end
  end

  it "reads, retries, kills and deletes the retries, dead and scheduled jobs Sidekiq 6.4.1 made" do
    jids = peer(<<~RUBY)
      failing = Array.new(3) { |i| Sidekiq::Client.push("class" => "FailJob", "args" => [i], "backtrace" => true) }
      dying = Sidekiq::Client.push("class" => "FailJob", "args" => ["no retries"], "retry" => 0)
      later = Sidekiq::Client.push("class" => "HoldJob", "args" => ["later"], "at" => Time.now.to_f + 3600)
      puts JSON.generate("failing" => failing, "dying" => dying, "later" => later)
    RUBY
    SidekiqPeer.with_server(peer_jobs, redis_url: REDIS.url) do
      eventually(timeout: 30) { Sidekiq::RetrySet.new.size == 3 && Sidekiq::DeadSet.new.size == 1 }
    end
    retries = Sidekiq::RetrySet.new
    expect(retries.map(&:jid)).to match_array(jids["failing"])
    first, second, third = jids["failing"].map { |jid| retries.find_job(jid) }
    expect(first.klass).to eq("FailJob")
    expect(first["error_class"]).to eq("ArgumentError")
    expect(first["error_message"]).to eq("peer failure")
    expect(first.error_backtrace.first).to include("jobs.rb")
    expect(first.at).to be_within(120).of(Time.now + 3600)
    expect(first.failed_at).to be_within(120).of(Time.now)
    expect(Sidekiq::Stats.new.failed).to eq(4)

    first.retry
    second.kill
    third.delete
    expect(retries.size).to eq(0)
    expect(queue_jobs.map { |job| [job["jid"], job["retry_count"]] }).to eq([[jids["failing"][0], -1]])
    expect(deaths).to eq([[jids["failing"][1], "Job killed by API"]])

    dead = Sidekiq::DeadSet.new
    expect(dead.map(&:jid)).to contain_exactly(jids["dying"], jids["failing"][1])
    dead.find_job(jids["dying"]).retry
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jids["dying"], jids["failing"][0]])

    scheduled = Sidekiq::ScheduledSet.new.find_job(jids["later"])
    expect(scheduled.at).to be_within(120).of(Time.now + 3600)
    scheduled.add_to_queue
    expect(Sidekiq::ScheduledSet.new.size).to eq(0)
    expect(Sidekiq::Queue.new.find_job(jids["later"]).args).to eq(["later"])
  end

  it "writes and changes sorted sets that Sidekiq 6.4.1's API reads and changes in turn" do
    stub_const("ApiJob", Class.new { include Sidekiq::Job })
    scheduled_jid = ApiJob.perform_in(600, "scheduled", 1.5, { "é" => [nil, true] })
    Sidekiq::ScheduledSet.new.find_job(scheduled_jid).reschedule(1_900_000_000.5)
    doomed = { "class" => "ApiJob", "args" => ["doomed"], "jid" => "d" * 24, "queue" => "default",
               "retry" => true, "created_at" => Time.now.to_f }
    Sidekiq::DeadSet.new.kill(Sidekiq.dump_json(doomed))
    retry_jid = ApiJob.perform_async("to retry")
    Sidekiq::Queue.new.find_job(retry_jid).tap(&:delete)
    Sidekiq::RetrySet.new.schedule(Time.now + 3600, "class" => "ApiJob", "args" => ["retrying"], "jid" => retry_jid,
                                                    "queue" => "default", "retry_count" => 0)

    seen = peer(<<~RUBY)
      scheduled = Sidekiq::ScheduledSet.new.find_job(#{scheduled_jid.inspect})
      dead = Sidekiq::DeadSet.new.to_a
      seen = {
        "scheduled" => [scheduled.score, scheduled.args, Sidekiq::ScheduledSet.new.size],
        "dead" => dead.map { |entry| [entry.jid, (Time.now.to_f - entry.score).abs < 60] },
        "retry" => Sidekiq::RetrySet.new.find_job(#{retry_jid.inspect}).args
      }
      # Sidekiq 6.4.1 moves Ferrokiq's entries: it matches them by their re-dumped JSON.
      scheduled.reschedule(1_950_000_000.25)
      Sidekiq::DeadSet.new.first.retry
      Sidekiq::RetrySet.new.find_job(#{retry_jid.inspect}).kill
      puts JSON.generate(seen)
    RUBY
    expect(seen["scheduled"]).to eq([1_900_000_000.5, ["scheduled", 1.5, { "é" => [nil, true] }], 1])
    expect(seen["dead"]).to eq([["d" * 24, true]])
    expect(seen["retry"]).to eq(["retrying"])

    expect(zset("schedule").map(&:last)).to eq([1_950_000_000.25])
    expect(Sidekiq::Queue.new.map(&:jid)).to eq(["d" * 24])
    expect(Sidekiq::RetrySet.new.size).to eq(0)
    expect(Sidekiq::DeadSet.new.map(&:jid)).to eq([retry_jid])
  end

  it "lets Sidekiq 6.4.1's API quiet a Ferrokiq server, which Ferrokiq's API then shows" do
    server = start_server(jobs: "", args: %w[-c 2]).wait_until_running
    identity = eventually { Sidekiq::ProcessSet.new.find { |p| p["pid"] == server.pid }&.identity }
    peer(<<~RUBY)
      process = Sidekiq::ProcessSet.new.find { |p| p["identity"] == #{identity.inspect} }
      process.quiet!
      puts JSON.generate(process["concurrency"])
    RUBY
    eventually(timeout: 25) { Sidekiq::ProcessSet[identity].stopping? }
    expect(server.stop).to be_success
  end
end
