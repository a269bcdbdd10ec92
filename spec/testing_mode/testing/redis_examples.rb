# frozen_string_literal: true

require "sidekiq/testing"

# Which pushes reach the real Redis: only those made while testing is disabled.
RSpec.describe "Sidekiq::Testing and Redis" do
  def redis_keys
    Sidekiq.redis { |conn| conn.keys("*") }.sort
  end

  it "fake! keeps every kind of push out of Redis" do
    AddJob.perform_async(1, 2)
    AddJob.perform_in(60, 3, 4)
    Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[5, 6], [7, 8]]) # no middleware: the native path
    Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[9, 10]], "at" => Time.now.to_f + 60)
    Sidekiq::Client.via(Sidekiq.redis_pool) { CriticalJob.perform_async(1) }
    expect(redis_keys).to be_empty
    expect(Sidekiq::Job.jobs.size).to eq(6)
  end

  it "disable! sends pushes to Redis and keeps none in memory" do
    Sidekiq::Testing.disable!
    jid = AddJob.perform_async(1, 2)
    AddJob.perform_in(60, 3, 4)
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jid])
    expect(scheduled_jobs.map { |job, _score| job["args"] }).to eq([[3, 4]])
    expect(known_queues).to eq(["default"])
    expect(Sidekiq::Job.jobs).to be_empty
  end

  it "disable! keeps the native bulk path for push_bulk" do
    Sidekiq::Testing.disable!
    native = Sidekiq.redis_pool.native
    expect(native).to receive(:push_bulk).and_call_original
    jids = Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[1, 2], [3, 4]])
    expect(queue_jobs.map { |job| job["jid"] }).to match_array(jids)
    expect(Sidekiq::Job.jobs).to be_empty
  end

  it "a disable! block reaches Redis for the block only" do
    inside = Sidekiq::Testing.disable! { AddJob.perform_async(1, 2) }
    outside = AddJob.perform_async(3, 4)
    expect(queue_jobs.map { |job| job["jid"] }).to eq([inside])
    expect(AddJob.jobs.map { |job| job["jid"] }).to eq([outside])
  end

  it "a fake! block keeps a globally disabled run out of Redis for the block" do
    Sidekiq::Testing.disable!
    Sidekiq::Testing.fake! { Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[1, 2]]) }
    expect(redis_keys).to be_empty
    expect(AddJob.jobs.size).to eq(1)
  end
end
