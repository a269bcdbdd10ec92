# frozen_string_literal: true

require "sidekiq/api"

RSpec.describe Sidekiq::ProcessSet do
  def redis(*words)
    Sidekiq.redis { |conn| conn.call(*words) }
  end

  # A heartbeat as Sidekiq 7 writes it (8.1.2+ moves concurrency out of info into its own field).
  def beat(identity, busy: 0, quiet: "false", rss: 1000, concurrency: 5, field_concurrency: nil, **info)
    info = { "hostname" => "host", "pid" => 1, "tag" => "app", "concurrency" => concurrency,
             "queues" => ["default"], "weights" => [{ "default" => 0 }], "labels" => ["l"],
             "identity" => identity, "version" => "7.3.10", "embedded" => false }.merge(info.transform_keys(&:to_s))
    info.delete("concurrency") if concurrency.nil?
    redis("SADD", "processes", identity)
    fields = ["info", JSON.generate(info), "busy", busy, "beat", "1700000000.5", "quiet", quiet, "rss", rss,
              "rtt_us", 150]
    fields += ["concurrency", field_concurrency] if field_concurrency
    redis("HSET", identity, *fields)
  end

  it "yields each live process by identity, with the heartbeat fields merged into info" do
    beat("b:2:bbb", busy: 3)
    beat("a:1:aaa")
    redis("SADD", "processes", "gone:3:ccc")
    processes = described_class.new(false).to_a
    expect(processes.map(&:identity)).to eq(%w[a:1:aaa b:2:bbb])
    process = processes.last
    expect(process["busy"]).to eq(3)
    expect(process["beat"]).to eq(1_700_000_000.5)
    expect(process["quiet"]).to eq("false")
    expect([process["rss"], process["rtt_us"]]).to eq([1000, 150])
    expect([process.tag, process.labels, process.queues, process.weights, process.version, process.embedded?])
      .to eq(["app", ["l"], ["default"], [{ "default" => 0 }], "7.3.10", false])
    expect(process.stopping?).to be(false)
  end

  it "sums concurrency (from info, or the 8.1.2+ hash field) and RSS" do
    beat("a:1:aaa", concurrency: 5, rss: 100)
    beat("b:2:bbb", concurrency: nil, field_concurrency: 7, rss: 250)
    set = described_class.new(false)
    expect(set.total_concurrency).to eq(12)
    expect(set.total_rss_in_kb).to eq(350)
    expect(set.total_rss).to eq(350)
    expect(set.size).to eq(2)
  end

  it "forgets processes whose heartbeat expired, at most once a minute" do
    beat("a:1:aaa")
    redis("SADD", "processes", "dead:1:xxx", "dead:2:yyy")
    expect(described_class.new(false).cleanup).to eq(2)
    expect(redis("SMEMBERS", "processes")).to eq(["a:1:aaa"])
    redis("SADD", "processes", "dead:3:zzz")
    expect(described_class.new(false).cleanup).to eq(0)
    redis("DEL", "process_cleanup")
    described_class.new
    expect(redis("SMEMBERS", "processes")).to eq(["a:1:aaa"])
  end

  it "looks one process up by identity" do
    beat("a:1:aaa", busy: 2)
    expect(described_class["a:1:aaa"]["busy"]).to eq(2)
    expect(described_class["nope:1:x"]).to be_nil
    redis("SREM", "processes", "a:1:aaa")
    expect(described_class["a:1:aaa"]).to be_nil
  end

  it "has no leader outside Sidekiq Enterprise" do
    expect(described_class.new(false).leader).to eq("")
  end

  describe Sidekiq::Process do
    before { beat("a:1:aaa", quiet: "true") }

    let(:process) { Sidekiq::ProcessSet["a:1:aaa"] }

    it "sends TSTP, TERM and TTIN through the signals list, which expires" do
      process.quiet!
      process.stop!
      process.dump_threads
      expect(redis("LRANGE", "a:1:aaa-signals", 0, -1)).to eq(%w[TTIN TERM TSTP])
      expect(redis("TTL", "a:1:aaa-signals")).to be_between(1, 60)
      expect(process.stopping?).to be(true)
    end

    it "refuses to quiet or stop an embedded process" do
      beat("e:1:eee", embedded: true)
      embedded = Sidekiq::ProcessSet["e:1:eee"]
      expect { embedded.quiet! }.to raise_error(RuntimeError, /embedded/)
      expect { embedded.stop! }.to raise_error(RuntimeError, /embedded/)
      expect(redis("EXISTS", "e:1:eee-signals")).to eq(0)
    end
  end

  context "with a running Ferrokiq server" do
    it "shows it, quiets it and stops it" do
      server = start_server(jobs: "", args: %w[-c 3 -q critical,2 -q default,1 -g apitest]).wait_until_running
      process = eventually { described_class.new.find { |p| p["pid"] == server.pid } }
      expect(process.identity).to include(":#{server.pid}:")
      expect([process.tag, process["concurrency"], process.queues, process.weights, process.version])
        .to eq(["apitest", 3, %w[critical default], [{ "critical" => 2, "default" => 1 }], Sidekiq::VERSION])
      expect(process["rss"]).to be > 0
      expect(process.stopping?).to be(false)
      expect(described_class.new.total_concurrency).to eq(3)

      process.quiet!
      eventually(timeout: 25) { described_class[process.identity].stopping? }
      process.stop!
      expect(server.wait(timeout: 40)).to be_success
    end
  end
end
