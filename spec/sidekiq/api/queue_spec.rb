# frozen_string_literal: true

require "sidekiq/api"

RSpec.describe Sidekiq::Queue do
  def push(queue = "default", **fields)
    Sidekiq::Client.push({ "class" => "QueueJob", "args" => [], "queue" => queue }.merge(fields.transform_keys(&:to_s)))
  end

  it "lists every known queue, sorted by name" do
    %w[zeta alpha mid].each { |name| push(name) }
    expect(described_class.all.map(&:name)).to eq(%w[alpha mid zeta])
  end

  it "reports size, and paused? false (a Sidekiq Pro feature)" do
    3.times { push }
    queue = described_class.new
    expect(queue.name).to eq("default")
    expect(queue.size).to eq(3)
    expect(queue.paused?).to be(false)
    expect(described_class.new("none").size).to eq(0)
  end

  describe "#latency" do
    def write(enqueued_at)
      Sidekiq.redis { |conn| conn.rpush("queue:lat", JSON.generate("jid" => "x", "enqueued_at" => enqueued_at)) }
    end

    it "is 0 for an empty queue, or one whose oldest entry is unreadable" do
      expect(described_class.new("lat").latency).to eq(0)
      Sidekiq.redis { |conn| conn.rpush("queue:lat", "{oops") }
      expect(described_class.new("lat").latency).to eq(0.0)
    end

    it "measures the oldest job from float seconds (6.4/7) or integer milliseconds (8.x)" do
      write(Time.now.to_f - 120)
      expect(described_class.new("lat").latency).to be_within(5).of(120)
      Sidekiq.redis { |conn| conn.del("queue:lat") }
      write(((Time.now.to_f - 90) * 1000).to_i)
      expect(described_class.new("lat").latency).to be_within(5).of(90)
    end
  end

  describe "#each" do
    it "yields every job, newest first, across pages" do
      jids = Array.new(120) { |i| push(n: i) }
      records = described_class.new.to_a
      expect(records.map(&:jid)).to eq(jids.reverse)
      expect(records.first).to be_a(Sidekiq::JobRecord)
      expect(records.first.queue).to eq("default")
    end

    it "does not skip jobs when the block deletes them" do
      120.times { |i| push(n: i) }
      deleted = described_class.new.count(&:delete)
      expect(deleted).to eq(120)
      expect(described_class.new.size).to eq(0)
    end
  end

  describe "#find_job" do
    it "finds a job by jid anywhere in a long queue" do
      jids = Array.new(2_500) { |i| push(n: i) }
      job = described_class.new.find_job(jids.first)
      expect(job.jid).to eq(jids.first)
      expect(job.queue).to eq("default")
      expect(job.value).to eq(raw_queue.last)
    end

    it "matches the jid, not the same text elsewhere in a payload" do
      target = "ab" * 12
      push("default", "args" => [target])
      expect(described_class.new.find_job(target)).to be_nil
      push("default", "jid" => target)
      expect(described_class.new.find_job(target).args).to eq([])
    end

    it "returns nil for an unknown jid or queue" do
      push
      expect(described_class.new.find_job("0" * 24)).to be_nil
      expect(described_class.new("nothing").find_job("0" * 24)).to be_nil
    end
  end

  it "clears the jobs and forgets the queue" do
    push("gone")
    push("kept")
    expect(described_class.new("gone").clear).to be(true)
    expect(known_queues).to eq(["kept"])
    expect(raw_queue("gone")).to be_empty
    expect(described_class.new("kept").size).to eq(1)
  end

  it "deletes one job from the queue by its stored bytes" do
    kept = push
    gone = push
    record = described_class.new.find_job(gone)
    expect(record.delete).to be(true)
    expect(record.delete).to be(false)
    expect(queue_jobs.map { |job| job["jid"] }).to eq([kept])
  end
end
