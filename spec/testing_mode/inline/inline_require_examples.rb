# frozen_string_literal: true

require "sidekiq/testing/inline"

# What a suite that requires "sidekiq/testing/inline" instead of "sidekiq/testing" gets.
RSpec.describe "require \"sidekiq/testing/inline\"" do
  it "sets inline mode for every thread" do
    expect(Sidekiq::Testing.__global_test_mode).to eq(:inline)
    expect(Sidekiq::Testing).to be_inline
    expect(Sidekiq::Testing).to be_enabled
    expect(Thread.new { Sidekiq::Testing.inline? }.value).to be(true)
  end

  it "runs jobs as they are pushed, with the jid perform_async returns" do
    jid = EchoJob.perform_async("a", 1)
    expect(JobLog.entries).to eq([[:echo, ["a", 1], jid]])
  end

  it "runs scheduled jobs and push_bulk jobs at once" do
    AddJob.perform_in(600, 1, 2)
    Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[3, 4]], "at" => Time.now.to_f + 600)
    AddJob.perform_bulk([[5, 6]])
    expect(JobLog.entries).to eq([[:add, 1, 2], [:add, 3, 4], [:add, 5, 6]])
  end

  it "raises job errors into the caller" do
    expect { FailingJob.perform_async("inline boom") }.to raise_error(ArgumentError, "inline boom")
  end

  it "writes nothing to Redis and keeps nothing in memory" do
    AddJob.perform_async(1, 2)
    CriticalJob.perform_in(60, 3)
    expect(Sidekiq.redis { |conn| conn.keys("*") }).to be_empty
    expect(Sidekiq::Job.jobs).to be_empty
  end

  it "still runs client middleware" do
    Sidekiq.configure_client { |config| config.client_middleware { |chain| chain.add StampMiddleware } }
    expect(EchoJob.perform_async("stop")).to be_nil
    expect(JobLog.entries).to be_empty
  end

  it "can fake a block, and the wiki's drain then runs what the block pushed" do
    Sidekiq::Testing.fake! { AddJob.perform_async(1, 2) }
    expect(JobLog.entries).to be_empty
    expect(AddJob.jobs.size).to eq(1)
    AddJob.drain
    expect(JobLog.entries).to eq([[:add, 1, 2]])
  end

  it "can send a block to Redis with disable!" do
    jid = Sidekiq::Testing.disable! { AddJob.perform_async(1, 2) }
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jid])
    expect(JobLog.entries).to be_empty
  end
end
