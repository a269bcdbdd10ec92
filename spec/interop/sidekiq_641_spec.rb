# frozen_string_literal: true

# Ferrokiq and Debian's real Sidekiq 6.4.1 (in separate processes) sharing one Redis.
RSpec.describe "Interop with Sidekiq 6.4.1", if: SidekiqPeer.available? do
  ODD_ARGS = [
    "plain", "é ✓ 日本 🎉", "quote\" back\\slash\n\t", 0.1, 1e20, -0.0, 1_700_000_000.123456, 2**40,
    nil, true, [1, [2.5]], { "k" => { "nested" => ["v", 3] } }
  ].freeze

  # A 6.4.1 job that records what it ran, as JSON written by 6.4.1 itself.
  PEER_JOBS = <<~RUBY
    Sidekiq.options[:poll_interval_average] = 1
    class InteropJob
      include Sidekiq::Worker
      def perform(*args)
        record = Sidekiq.dump_json("jid" => jid, "args" => args)
        Sidekiq.redis { |conn| conn.rpush("interop:ran", record) }
      end
    end
  RUBY

  before do
    stub_const("InteropJob", Class.new do
      include Sidekiq::Job

      def perform(*); end
    end)
  end

  def ran_by_peer
    Sidekiq.redis { |conn| conn.lrange("interop:ran", 0, -1) }.map { |json| JSON.parse(json) }
  end

  it "runs jobs Ferrokiq pushed (now, scheduled, bulk, other queues) with the exact args" do
    expected = {}
    expected[InteropJob.perform_async(*ODD_ARGS)] = ODD_ARGS
    expected[InteropJob.set(queue: "other").perform_async("to other", 2.75)] = ["to other", 2.75]
    expected[InteropJob.perform_in(1, "scheduled", { "at" => 1.5 })] = ["scheduled", { "at" => 1.5 }]
    expected[InteropJob.set(queue: "other").perform_in(1.5, "scheduled other")] = ["scheduled other"]
    bulk_args = (1..20).map { |i| [i, "bulk #{i}", i / 4.0] }
    InteropJob.perform_bulk(bulk_args).zip(bulk_args).each { |jid, args| expected[jid] = args }
    Sidekiq::Client.push_bulk("class" => InteropJob, "args" => [["bulk at"]], "at" => Time.now.to_f + 1)
                   .each { |jid| expected[jid] = ["bulk at"] }

    SidekiqPeer.with_server(PEER_JOBS, redis_url: REDIS.url, queues: %w[default other]) do
      eventually(timeout: 45) { ran_by_peer.size >= expected.size }
    end

    ran = ran_by_peer.to_h { |record| [record["jid"], record["args"]] }
    expect(ran).to eq(expected)
    raw = Sidekiq.redis { |conn| conn.lrange("interop:ran", 0, -1) }
    first = raw.find { |json| json.include?("é ✓") }
    expect(first).to include(JSON.generate(ODD_ARGS))
  end

  it "reads jobs a Sidekiq 6.4.1 client pushed without loss, and writes them back byte for byte" do
    SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url)
      args = #{ODD_ARGS.inspect}
      Sidekiq::Client.push("class" => "InteropJob", "args" => args, "queue" => "peerq", "retry" => 3, "tags" => ["t"])
      Sidekiq::Client.push("class" => "InteropJob", "args" => ["later", 0.5], "at" => Time.now.to_f + 600)
      Sidekiq::Client.push_bulk("class" => "InteropJob", "args" => [[1], [2.25], ["three"]])
    RUBY
    immediate = Sidekiq.redis { |conn| conn.lrange("queue:peerq", 0, -1) + conn.lrange("queue:default", 0, -1) }
    scheduled = Sidekiq.redis { |conn| conn.zrange("schedule", 0, -1) }
    expect(immediate.size).to eq(4)
    expect(scheduled.size).to eq(1)

    (immediate + scheduled).each do |raw|
      expect(Ferrokiq::Native.normalize_json(raw)).to eq(raw)
      expect(Sidekiq.dump_json(JSON.parse(raw))).to eq(raw)
    end
    job = JSON.parse(immediate.find { |raw| raw.include?("peerq") })
    expect(job).to include("class" => "InteropJob", "args" => ODD_ARGS, "queue" => "peerq", "retry" => 3,
                           "tags" => ["t"])
    expect(job["jid"]).to match(/\A\h{24}\z/)
    expect(job["created_at"]).to be_a(Float)
    expect(JSON.parse(scheduled.first)).not_to include("at", "enqueued_at")
  end

  it "pushes payloads of the same shape as Sidekiq 6.4.1's" do
    SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url)
      Sidekiq::Client.push("class" => "InteropJob", "args" => [1, "x"], "queue" => "peer")
    RUBY
    Sidekiq::Client.push("class" => "InteropJob", "args" => [1, "x"], "queue" => "ours")
    theirs, ours = %w[peer ours].map { |queue| queue_jobs(queue).first }
    expect(ours.keys).to eq(theirs.keys)
    expect(ours.except("jid", "created_at", "enqueued_at", "queue"))
      .to eq(theirs.except("jid", "created_at", "enqueued_at", "queue"))
    expect(known_queues).to eq(%w[ours peer])
  end
end
