# frozen_string_literal: true

require "sidekiq/api"

RSpec.describe Sidekiq::WorkSet do
  def redis(*words)
    Sidekiq.redis { |conn| conn.call(*words) }
  end

  def job_json(jid)
    JSON.generate("class" => "BusyJob", "args" => [jid], "jid" => jid, "queue" => "default")
  end

  def work_json(jid, run_at, queue: "default")
    JSON.generate("queue" => queue, "payload" => job_json(jid), "run_at" => run_at)
  end

  def process(identity, busy:)
    redis("SADD", "processes", identity)
    redis("HSET", identity, "info", JSON.generate("identity" => identity), "busy", busy)
  end

  before do
    # A Sidekiq 7 (or Ferrokiq) process: `<identity>:work`.
    process("new:1:aaa", busy: 2)
    redis("HSET", "new:1:aaa:work", "t1", work_json("j-late", 1_700_000_300), "t2", work_json("j-early", 1_700_000_100))
    # A Sidekiq 6.4 process: only `<identity>:workers`.
    process("old:2:bbb", busy: 1)
    redis("HSET", "old:2:bbb:workers", "t9", work_json("j-mid", 1_700_000_200, queue: "low"))
  end

  it "yields process id, thread id and work for every busy thread, longest running first" do
    rows = described_class.new.map { |process_id, thread_id, work| [process_id, thread_id, work.job.jid] }
    expect(rows).to eq([%w[new:1:aaa t2 j-early], %w[old:2:bbb t9 j-mid], %w[new:1:aaa t1 j-late]])
  end

  it "describes each running job" do
    work = described_class.new.find_work("j-mid")
    expect(work).to be_a(Sidekiq::Work)
    expect([work.process_id, work.thread_id, work.queue]).to eq(%w[old:2:bbb t9 low])
    expect(work.run_at).to eq(Time.at(1_700_000_200))
    expect(work.payload).to eq(job_json("j-mid"))
    expect(work.job.args).to eq(["j-mid"])
    expect(described_class.new.find_work_by_jid("j-late").thread_id).to eq("t1")
    expect(described_class.new.find_work("none")).to be_nil
  end

  it "still answers the Hash-style access of Sidekiq 6.x and 7.0 code" do
    _, _, work = described_class.new.to_a.first
    expect(work["queue"]).to eq("default")
    expect(work["run_at"]).to eq(1_700_000_100)
    expect(work.fetch("payload")).to eq(job_json("j-early"))
    expect(work).to respond_to(:key?)
  end

  it "counts busy threads from the heartbeats" do
    expect(described_class.new.size).to eq(3)
    expect(Sidekiq::Workers).to be(described_class)
  end

  it "prefers `<identity>:work` when a process writes both hashes" do
    redis("HSET", "new:1:aaa:workers", "t1", work_json("j-late", 1_700_000_300))
    expect(described_class.new.count).to eq(3)
  end

  context "with a running Ferrokiq server" do
    before { stub_const("HoldJob", Class.new { include Sidekiq::Job }) }

    it "shows the job a server is running" do
      server = start_server(jobs: <<~RUBY, args: %w[-c 2]).wait_until_running
        class HoldJob
          include Sidekiq::Job
          def perform(*)
            sleep 0.05 until Sidekiq.redis { |conn| conn.get("release") }
          end
        end
      RUBY
      jid = HoldJob.perform_async("held")
      work = eventually(timeout: 25) { described_class.new.find_work(jid) }
      expect(work.process_id).to include(":#{server.pid}:")
      expect(work.queue).to eq("default")
      expect(work.job.args).to eq(["held"])
      expect(work.run_at).to be_within(60).of(Time.now)
      expect(Sidekiq::Stats.new.workers_size).to be >= 1
      redis("SET", "release", "1")
      expect(server.stop).to be_success
    end
  end
end
