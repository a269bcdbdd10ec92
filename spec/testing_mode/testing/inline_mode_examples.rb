# frozen_string_literal: true

require "sidekiq/testing"

RSpec.describe "Sidekiq::Testing.inline!" do
  before { Sidekiq::Testing.inline! }

  it "runs the job before perform_async returns, and returns its jid" do
    jid = EchoJob.perform_async(1, "two")
    expect(JobLog.entries).to eq([[:echo, [1, "two"], jid]])
    expect(jid).to match(/\A\h{24}\z/)
  end

  it "hands the job its args as they come back from JSON" do
    Sidekiq.strict_args!(false)
    EchoJob.perform_async(:sym, { "at" => [:x] })
    expect(JobLog.entries.first[1]).to eq(["sym", { "at" => ["x"] }])
  end

  it "runs scheduled jobs now" do
    AddJob.perform_in(3600, 1, 2)
    AddJob.set(wait: 60).perform_async(3, 4)
    expect(JobLog.entries).to eq([[:add, 1, 2], [:add, 3, 4]])
  end

  it "raises the job's error in the caller and does not retry it" do
    expect { FailingJob.perform_async("boom") }.to raise_error(ArgumentError, "boom")
    expect(JobLog.entries).to eq([[:failing, "boom"]])
    expect(Sidekiq.redis { |conn| conn.zcard("retry") }).to eq(0)
  end

  it "runs client middleware first, which may change or stop the job" do
    Sidekiq.configure_client { |config| config.client_middleware { |chain| chain.add StampMiddleware } }
    Sidekiq::Testing.server_middleware.add(Class.new do
      def call(_instance, job, _queue)
        JobLog.entries << [:stamp, job["stamp"]]
        yield
      end
    end)
    expect(EchoJob.perform_async("stop")).to be_nil
    EchoJob.perform_async("go")
    expect(JobLog.entries.map(&:first)).to eq(%i[stamp echo])
    expect(JobLog.entries.first).to eq([:stamp, "client"])
  end

  it "checks args strictly before running anything" do
    expect { EchoJob.perform_async(Time.now) }.to raise_error(ArgumentError, /must be native JSON types/)
    expect(JobLog.entries).to be_empty
  end

  it "runs jobs through Sidekiq::Testing.server_middleware" do
    Sidekiq::Testing.server_middleware { |chain| chain.add RecordingServerMiddleware }
    ran = CriticalJob.perform_async("x")
    skipped = CriticalJob.perform_async("skip")
    expect(JobLog.entries).to eq(
      [[:server_middleware, "CriticalJob", ran, "critical"], [:critical, "x"],
       [:server_middleware, "CriticalJob", skipped, "critical"]]
    )
  end

  it "runs every job of a push_bulk, middleware or not" do
    Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[1, 2], [3, 4]])
    AddJob.perform_bulk([[5, 6]])
    expect(JobLog.entries).to eq([[:add, 1, 2], [:add, 3, 4], [:add, 5, 6]])
  end

  it "stores nothing, in memory or in Redis" do
    AddJob.perform_async(1, 2)
    Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[3, 4]])
    expect(Sidekiq::Job.jobs).to be_empty
    expect(Sidekiq.redis { |conn| conn.keys("*") }).to be_empty
  end

  it "runs jobs pushed by jobs at once" do
    CountdownJob.perform_async(2)
    expect(JobLog.entries).to eq([[:countdown, 2], [:countdown, 1], [:countdown, 0]])
  end

  it "gives a job pushed without a jid one" do
    client = Sidekiq::Client.new
    job = { "class" => "EchoJob", "args" => [], "queue" => "default" }
    client.send(:raw_push, [job])
    expect(JobLog.entries.first.last).to match(/\A\h{24}\z/)
  end
end
