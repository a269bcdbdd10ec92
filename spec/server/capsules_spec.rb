# frozen_string_literal: true

require "json"
require "open3"
require "yaml"
require "sidekiq/api"

# The servers' job file. Each run records [index, thread, started, finished] in `ran:<key>`;
# `started:<key>` says which runs began. A run naps for the `nap` key's seconds when it is set,
# else for `seconds`.
module CapsuleSpecSource
  JOBS = <<~RUBY
    class IntervalJob
      include Sidekiq::Job
      def perform(key, index, seconds)
        Sidekiq.redis { |conn| conn.rpush("started:\#{key}", index.to_s) }
        started = Process.clock_gettime(Process::CLOCK_REALTIME)
        nap = Sidekiq.redis { |conn| conn.get("nap") }
        sleep(nap ? nap.to_f : seconds)
        finished = Process.clock_gettime(Process::CLOCK_REALTIME)
        record = [index, Thread.current.object_id, started, finished]
        Sidekiq.redis { |conn| conn.rpush("ran:\#{key}", JSON.generate(record)) }
      end
    end
  RUBY
  SINGLE_CAPSULE = <<~RUBY
    Sidekiq.configure_server do |config|
      config.capsule("single") do |cap|
        cap.concurrency = 1
        cap.queues = %w[serial]
      end
    end
  RUBY
  # A client middleware that records each job it sees: due jobs then reach their queues
  # through the scheduler's hand-off to Ruby (docs/design.md, §5.2).
  CLIENT_RECORDER = <<~RUBY
    class ClientRecorder
      def call(_klass, job, queue, _pool)
        Sidekiq.redis { |conn| conn.rpush("client_seen", "\#{queue} \#{job["jid"]}") }
        yield
      end
    end

    Sidekiq.configure_server do |config|
      config.client_middleware { |chain| chain.add(ClientRecorder) }
    end
  RUBY
end

# Capsules with the real `exe/sidekiq`: a capsule of one thread on `serial` beside the default
# capsule on `default`, each with its own fetcher and hand-off in the engine.
RSpec.describe "Capsules" do # rubocop:disable Metrics/BlockLength
  before do
    stub_const("IntervalJob", Class.new { include Sidekiq::Job })
  end

  def push_jobs(queue, count, seconds)
    count.times { |index| IntervalJob.set(queue:).perform_async(queue, index, seconds) }
  end

  def runs(key)
    redis_json_list("ran:#{key}")
  end

  def started(key)
    redis_list("started:#{key}").map(&:to_i)
  end

  def overlapping_pairs(intervals)
    intervals.combination(2).select do |(_, _, start_a, end_a), (_, _, start_b, end_b)|
      start_a < end_b && start_b < end_a
    end
  end

  def start_capsule_server(args: %w[-c 4])
    start_server(jobs: CapsuleSpecSource::JOBS + CapsuleSpecSource::SINGLE_CAPSULE, args:).wait_until_running
  end

  def identity_of(server)
    Sidekiq.redis { |conn| conn.smembers("processes") }.find { |id| id.include?(":#{server.pid}:") }
  end

  it "runs the one-thread capsule's jobs strictly one at a time while the default capsule runs in parallel" do
    push_jobs("serial", 6, 0.15)
    push_jobs("default", 8, 0.3)
    server = start_capsule_server
    eventually { runs("serial").size == 6 && runs("default").size == 8 }

    serial = runs("serial")
    expect(overlapping_pairs(serial)).to be_empty
    expect(serial.map(&:first)).to eq((0..5).to_a) # and in queue order
    expect(serial.map { |run| run[1] }.uniq.size).to eq(1)
    expect(overlapping_pairs(runs("default"))).not_to be_empty
    expect(server.stop).to be_success
    expect(server.log).to include("Capsule single: 1 threads, queues serial",
                                  "Terminating quiet threads for single capsule")
  end

  it "writes every capsule into the heartbeat, and Sidekiq 6.4.1's API reads the total concurrency" do # rubocop:disable Metrics/BlockLength
    server = ServerProcess.new(jobs: CapsuleSpecSource::JOBS, args: %w[-C capsules.yml])
    File.write(File.join(server.dir, "capsules.yml"), <<~YAML)
      :concurrency: 3
      :queues: ["critical,2", "default,1"]
      :capsules:
        single:
          :concurrency: 1
          :queues: [serial]
    YAML
    (@servers ||= []) << server.start.wait_until_running
    identity = identity_of(server)
    info = JSON.parse(Sidekiq.redis { |conn| conn.hget(identity, "info") })
    expect(info).to include(
      "concurrency" => 4, "queues" => %w[critical default serial],
      "weights" => [{ "critical" => 2, "default" => 1 }, { "serial" => 0 }],
      "capsules" => {
        "default" => { "concurrency" => 3, "mode" => "weighted", "weights" => { "critical" => 2, "default" => 1 } },
        "single" => { "concurrency" => 1, "mode" => "strict", "weights" => { "serial" => 0 } }
      }
    )
    expect(Sidekiq.redis { |conn| conn.hget(identity, "concurrency") }).to eq("4")
    expect(Sidekiq::ProcessSet.new.map { |process| process["concurrency"] }).to eq([4])

    seen = JSON.parse(SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url))
      require "sidekiq/api"
      require "json"
      puts JSON.generate(Sidekiq::ProcessSet.new.map { |process| [process["concurrency"], process["queues"]] })
    RUBY
    expect(seen).to eq([[4, %w[critical default serial]]])
    expect(server.stop).to be_success
  end

  it "refuses a sidekiq.yml capsule without threads or queues, with a message and exit status 1" do
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "jobs.rb"), "")
      bad = [{ "single" => { "queues" => ["serial"] } }, { "single" => { "concurrency" => 2 } }, ["single"]]
      bad.each do |capsules|
        File.write(File.join(dir, "bad.yml"), YAML.dump("capsules" => capsules))
        _, err, status = Open3.capture3({ "REDIS_URL" => REDIS.url }, RbConfig.ruby, ServerProcess::EXE,
                                        "-r", "./jobs.rb", "-C", "bad.yml", chdir: dir)
        expect(status.exitstatus).to eq(1)
        expect(err).to match(/capsules: /)
      end
    end
  end

  it "on TSTP starts no further serial job and puts the fetched one back; TERM then exits cleanly" do
    push_jobs("serial", 5, 0.5)
    server = start_capsule_server
    eventually { started("serial").any? }
    server.signal("TSTP")
    identity = identity_of(server)
    eventually { Sidekiq.redis { |conn| conn.hget(identity, "quiet") } == "true" }
    eventually { runs("serial").size == started("serial").size }
    begun = started("serial")
    expect(begun.size).to be < 5
    expect(server.stop).to be_success

    expect(started("serial")).to eq(begun)
    queued = redis_list("queue:serial").map { |payload| JSON.parse(payload)["args"][1] }
    expect((queued + begun).sort).to eq((0..4).to_a)
    expect(Sidekiq.redis { |conn| conn.hgetall("ferrokiq:working") }).to be_empty
  end

  it "with client middleware, moves a due job of the capsule's queue through it and runs it there" do
    jobs = CapsuleSpecSource::JOBS + CapsuleSpecSource::SINGLE_CAPSULE + CapsuleSpecSource::CLIENT_RECORDER
    server = start_server(jobs:, args: %w[-c 2]).wait_until_running
    jid = IntervalJob.set(queue: "serial").perform_in(0.5, "serial", 0, 0)
    eventually { runs("serial").size == 1 }
    expect(redis_list("client_seen")).to eq(["serial #{jid}"])
    expect(Sidekiq.redis { |conn| conn.zcard("schedule") }).to eq(0)
    expect(server.stop).to be_success
  end

  it "recovers a serial job from the capsule's working list after kill -9 and runs it again" do
    Sidekiq.redis { |conn| conn.set("nap", "30") }
    push_jobs("serial", 1, 0)
    server = start_capsule_server
    eventually { started("serial") == [0] }
    working = Sidekiq.redis { |conn| conn.hgetall("ferrokiq:working") }
    expect(working.keys).to include(a_string_ending_with(":serial"))
    server.kill!

    Sidekiq.redis { |conn| conn.del("nap") }
    start_capsule_server
    eventually { runs("serial").size == 1 }
    expect(started("serial")).to eq([0, 0])
    expect(redis_list("queue:serial")).to be_empty
  end
end
