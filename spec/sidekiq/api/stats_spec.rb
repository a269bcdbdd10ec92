# frozen_string_literal: true

require "sidekiq/api"

RSpec.describe Sidekiq::Stats do
  def redis(*words)
    Sidekiq.redis { |conn| conn.call(*words) }
  end

  def beat(identity, busy:)
    redis("SADD", "processes", identity)
    redis("HSET", identity, "info", JSON.generate("identity" => identity), "busy", busy)
  end

  it "reads the totals and the set sizes" do
    redis("SET", "stat:processed", 42)
    redis("SET", "stat:failed", 7)
    redis("ZADD", "schedule", 1.0, "a", 2.0, "b")
    redis("ZADD", "retry", 1.0, "c")
    redis("ZADD", "dead", 1.0, "d", 2.0, "e", 3.0, "f")
    beat("host:1:aaa", busy: 2)
    stats = described_class.new
    expect([stats.processed, stats.failed, stats.scheduled_size, stats.retry_size, stats.dead_size,
            stats.processes_size]).to eq([42, 7, 2, 1, 3, 1])
  end

  it "is all zeros on an empty Redis" do
    stats = described_class.new
    expect([stats.processed, stats.failed, stats.enqueued, stats.workers_size, stats.default_queue_latency])
      .to eq([0, 0, 0, 0, 0])
  end

  it "sums enqueued jobs over every queue and busy threads over every process" do
    Sidekiq::Client.push_bulk("class" => "A", "args" => [[1], [2], [3]])
    Sidekiq::Client.push("class" => "A", "args" => [], "queue" => "other")
    beat("host:1:aaa", busy: 2)
    beat("host:2:bbb", busy: 3)
    stats = described_class.new
    expect(stats.enqueued).to eq(4)
    expect(stats.workers_size).to eq(5)
    expect(stats.queues).to eq("default" => 3, "other" => 1)
    expect(stats.queues.keys).to eq(%w[default other])
  end

  describe "#default_queue_latency" do
    it "measures the oldest default job, in seconds whichever unit it was written in" do
      now = Time.now.to_f
      redis("RPUSH", "queue:default", JSON.generate("jid" => "old", "enqueued_at" => now - 30.0))
      expect(described_class.new.default_queue_latency).to be_within(5).of(30)

      Sidekiq.redis(&:flushdb)
      redis("RPUSH", "queue:default", JSON.generate("jid" => "ms", "enqueued_at" => ((now - 60) * 1000).to_i))
      expect(described_class.new.default_queue_latency).to be_within(5).of(60)
    end

    it "is 0 for a job without enqueued_at or with unreadable JSON" do
      redis("RPUSH", "queue:default", "{not json")
      expect(described_class.new.default_queue_latency).to eq(0.0)
      redis("RPUSH", "queue:default", "{}")
      expect(described_class.new.default_queue_latency).to eq(0.0)
    end
  end

  describe "#reset" do
    before do
      redis("SET", "stat:processed", 5)
      redis("SET", "stat:failed", 6)
    end

    it "zeroes both totals" do
      described_class.new.reset
      expect(redis("MGET", "stat:processed", "stat:failed")).to eq(%w[0 0])
    end

    it "zeroes only the named ones and ignores unknown names" do
      described_class.new.reset(:failed, "bogus")
      expect(redis("MGET", "stat:processed", "stat:failed")).to eq(%w[5 0])
    end
  end

  it "raises for an unknown stat" do
    expect { described_class.new.send(:stat, :bogus) }.to raise_error(ArgumentError, /no statistic named :bogus/)
  end

  describe Sidekiq::Stats::History do
    it "reads the daily counters, newest first, with 0 for missing days" do
      redis("SET", "stat:processed:2024-03-01", 10)
      redis("SET", "stat:processed:2024-02-28", 3)
      redis("SET", "stat:failed:2024-02-29", 1)
      history = described_class.new(3, Date.new(2024, 3, 1))
      expect(history.processed).to eq("2024-03-01" => 10, "2024-02-29" => 0, "2024-02-28" => 3)
      expect(history.failed).to eq("2024-03-01" => 0, "2024-02-29" => 1, "2024-02-28" => 0)
    end

    it "starts today (UTC) by default" do
      today = Time.now.utc.strftime("%Y-%m-%d")
      redis("SET", "stat:processed:#{today}", 4)
      expect(described_class.new(1).processed).to eq(today => 4)
    end

    it "accepts 1 to 5 years of days only" do
      expect { described_class.new(0) }.to raise_error(ArgumentError)
      expect { described_class.new((5 * 365) + 1) }.to raise_error(ArgumentError)
      expect { described_class.new(5 * 365) }.not_to raise_error
    end
  end
end
