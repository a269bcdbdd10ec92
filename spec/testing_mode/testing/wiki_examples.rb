# frozen_string_literal: true

# The Sidekiq wiki's "Testing" page, as Sidekiq users write it in their spec suites.
require "sidekiq/testing"

class HardJob
  include Sidekiq::Job

  def self.done
    @done ||= []
  end

  def perform(first, second)
    HardJob.done << (first + second)
  end
end

# A server middleware under test, as the wiki's "Testing server middleware" section shows.
class TimingMiddleware
  def call(_job, _payload, _queue)
    yield
    HardJob.done << :timed
  end
end

RSpec.describe HardJob do
  before do
    Sidekiq::Worker.clear_all
    HardJob.done.clear
  end

  it "is enqueued by perform_async" do
    expect(HardJob.jobs.size).to eq 0
    HardJob.perform_async(1, 2)
    expect(HardJob.jobs.size).to eq 1
    expect(HardJob.jobs.first["args"]).to eq [1, 2]
  end

  it "changes the size of HardJob.jobs" do
    expect { HardJob.perform_async(1, 2) }.to change(HardJob.jobs, :size).by(1)
  end

  it "is scheduled by perform_in" do
    HardJob.perform_in(3600, 1, 2)
    expect(HardJob.jobs.last["at"]).to be_within(5).of(Time.now.to_f + 3600)
  end

  it "sits in Sidekiq::Queues by queue name" do
    expect(Sidekiq::Queues["default"].size).to eq 0
    HardJob.perform_async(1, 2)
    expect(Sidekiq::Queues["default"].size).to eq 1
    expect(Sidekiq::Queues["default"].first["args"]).to eq [1, 2]
    Sidekiq::Queues.clear_all
    expect(Sidekiq::Queues["default"].size).to eq 0
  end

  it "is performed by drain" do
    HardJob.perform_async(1, 2)
    HardJob.perform_async(2, 3)
    expect(HardJob.jobs.size).to eq 2
    HardJob.drain
    expect(HardJob.jobs.size).to eq 0
    expect(HardJob.done).to eq [3, 5]
  end

  it "is performed one at a time by perform_one" do
    HardJob.perform_async(1, 2)
    HardJob.perform_async(2, 3)
    HardJob.perform_one
    expect(HardJob.jobs.size).to eq 1
    expect(HardJob.done).to eq [3]
  end

  it "is performed with every other job by Sidekiq::Worker.drain_all" do
    HardJob.perform_async(1, 2)
    AddJob.perform_async(3, 4)
    Sidekiq::Worker.drain_all
    expect(Sidekiq::Worker.jobs.size).to eq 0
    expect(HardJob.done).to eq [3]
    expect(JobLog.entries).to eq [[:add, 3, 4]]
  end

  it "runs at once inside Sidekiq::Testing.inline!" do
    Sidekiq::Testing.inline! do
      HardJob.perform_async(1, 2)
      expect(HardJob.done).to eq [3]
    end
    HardJob.perform_async(2, 3)
    expect(HardJob.jobs.size).to eq 1
  end

  it "is faked inside Sidekiq::Testing.fake! when the suite runs inline" do
    Sidekiq::Testing.inline!
    Sidekiq::Testing.fake! do
      expect { HardJob.perform_async(1, 2) }.to change(HardJob.jobs, :size).by(1)
    end
    HardJob.perform_async(2, 3)
    expect(HardJob.done).to eq [5]
  end

  it "runs through the server middleware added to Sidekiq::Testing.server_middleware" do
    Sidekiq::Testing.server_middleware do |chain|
      chain.add TimingMiddleware
    end
    HardJob.perform_async(1, 2)
    HardJob.drain
    expect(HardJob.done).to eq [3, :timed]
  end
end
