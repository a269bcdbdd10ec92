# frozen_string_literal: true

require "sidekiq/api"

RSpec.describe Sidekiq::InFlightSet do
  def redis(*words)
    Sidekiq.redis { |conn| conn.call(*words) }
  end

  # What a Ferrokiq process with reliable fetch keeps while it holds jobs.
  def hold(identity, queue, jids, busy:)
    key = "ferrokiq:working:#{identity}:#{queue}"
    redis("HSET", "ferrokiq:working", key, "#{identity}\n#{queue}\n#{Time.now.to_i}")
    jids.each { |jid| redis("LPUSH", key, JSON.generate("class" => "HeldJob", "args" => [jid], "jid" => jid)) }
    redis("SADD", "processes", identity)
    redis("HINCRBY", identity, "busy", busy)
  end

  it "lists every taken job with its queue and the process holding it, and counts them" do
    hold("web-1:10:0123456789ab", "default", %w[a b], busy: 1)
    hold("web-2:20:abcdefabcdef", "mailers", %w[c], busy: 0)
    jobs = described_class.new.to_a
    expect(jobs.map { |job| [job.jid, job.queue, job.identity] }).to contain_exactly(
      ["a", "default", "web-1:10:0123456789ab"], ["b", "default", "web-1:10:0123456789ab"],
      ["c", "mailers", "web-2:20:abcdefabcdef"]
    )
    expect(jobs.map(&:klass).uniq).to eq(["HeldJob"])
    expect(described_class.new.size).to eq(3)
    expect(described_class.new("mailers").map(&:jid)).to eq(["c"])
    expect(described_class.new("mailers").size).to eq(1)
  end

  it "is empty when no process holds anything" do
    expect(described_class.new.size).to eq(0)
    expect(described_class.new.to_a).to eq([])
  end

  it "makes Stats#enqueued count taken jobs that are not running, as they would be queued with Sidekiq" do
    Sidekiq::Client.push("class" => "A", "args" => [])
    hold("web-1:10:0123456789ab", "default", %w[a b c], busy: 1)
    hold("web-2:20:abcdefabcdef", "default", %w[d], busy: 1)
    stats = Sidekiq::Stats.new
    expect(stats.enqueued).to eq(1 + 2)
    expect(stats.workers_size).to eq(2)
  end

  it "shows the jobs a real server holds while they run" do
    jobs = <<~RUBY
      class HeldJob
        include Sidekiq::Job
        def perform(_) = sleep(30)
      end
    RUBY
    stub_const("HeldJob", Class.new { include Sidekiq::Job })
    HeldJob.perform_bulk([[1], [2]])
    server = start_server(jobs:, args: %w[-c 2 -t 1]).wait_until_running
    eventually { described_class.new.size == 2 }
    expect(described_class.new.map(&:identity).uniq.first).to include(":#{server.pid}:")
    expect(described_class.new.map { |job| job.args.first }).to contain_exactly(1, 2)
    # Running jobs count as busy from the next heartbeat on (every 10 s), as in Sidekiq.
    eventually(timeout: 15) { Sidekiq::Stats.new.enqueued.zero? && Sidekiq::Stats.new.workers_size == 2 }
  end
end
