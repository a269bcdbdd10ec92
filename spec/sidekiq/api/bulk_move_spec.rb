# frozen_string_literal: true

require "sidekiq/api"

# The batched path of retry_all / add_all_to_queue / kill_all (Sidekiq::BulkMove, moved by Lua
# scripts from Rust) against the job-by-job path through Sidekiq::Client it stands in for: the
# same jobs in the same places, and the job-by-job path whenever the client would change them.
RSpec.describe Sidekiq::BulkMove do # rubocop:disable Metrics/BlockLength
  let(:config) { Sidekiq.default_configuration }

  def payload(jid, **fields)
    Sidekiq.dump_json({ "class" => "BulkJob", "args" => [jid, { "k" => [1.5, nil] }], "queue" => "default",
                        "jid" => jid, "retry" => true, "created_at" => 1_700_000_000.25,
                        "enqueued_at" => 1_700_000_001.5 }.merge(fields.transform_keys(&:to_s)))
  end

  def jid(index) = format("%024x", index)

  def zadd(set, score, member)
    Sidekiq.redis { |conn| conn.call("ZADD", set, score.to_s, member) }
  end

  def seed(set, count)
    count.times { |i| zadd(set, 1000 + i, payload(jid(i), queue: "q#{i % 2}", retry_count: 3, error_class: "E")) }
  end

  def call(*words) = Sidekiq.redis { |conn| conn.call(*words) }

  # Every queued job, without the enqueued_at each push stamps, in pop order per queue.
  def queued
    %w[q0 q1].to_h do |name|
      [name, call("LRANGE", "queue:#{name}", 0, -1).reverse.map { |json| JSON.parse(json).except("enqueued_at") }]
    end
  end

  # What +action+ leaves in the queues through the job-by-job path.
  def slow_result(set, action)
    allow(described_class).to receive(:to_queues).and_return(nil)
    set.new.public_send(action)
    queued.tap { call("FLUSHDB") }
  ensure
    RSpec::Mocks.space.proxy_for(described_class).reset
  end

  { retry_all: Sidekiq::RetrySet, add_all_to_queue: Sidekiq::ScheduledSet }.each do |action, set|
    it "#{action} leaves the same jobs in the same queues, in the same order, as the job-by-job path" do
      seed(set.new.name, 2_345)
      expected = slow_result(set, action)
      seed(set.new.name, 2_345)
      before = Time.now.to_f
      expect(set.new.public_send(action)).to eq(2_345)
      expect(queued).to eq(expected)
      expect(call("ZCARD", set.new.name)).to eq(0)
      expect(call("SMEMBERS", "queues")).to match_array(%w[q0 q1])
      stamps = call("LRANGE", "queue:q0", 0, -1).map { |json| JSON.parse(json)["enqueued_at"] }
      expect(stamps).to all(be_between(before, Time.now.to_f))
      expect(expected["q0"].first["retry_count"]).to eq(action == :retry_all ? 2 : 3)
    end
  end

  it "takes the job-by-job path through the client when a client middleware is configured" do
    middleware = Class.new do
      def call(_class, job, _queue, _pool)
        job["seen_by_middleware"] = true
        yield
      end
    end
    config.client_middleware { |chain| chain.add(middleware) }
    seed("retry", 3)
    Sidekiq::RetrySet.new.retry_all
    expect(queued.values.flatten.map { |job| job["seen_by_middleware"] }).to eq([true, true, true])
  ensure
    config.client_middleware { |chain| chain.remove(middleware) }
  end

  it "moves the jobs it can and then raises on an entry that is not a job, which stays in the set" do
    seed("retry", 5)
    zadd("retry", 1002.5, "not json")
    expect { Sidekiq::RetrySet.new.retry_all }.to raise_error(JSON::ParserError)
    expect(call("ZRANGE", "retry", 0, -1)).to eq(["not json"])
    expect(queued.values.flatten.size).to eq(5)
  end

  it "moves no job of a batch whose destination is broken, and raises" do
    zadd("retry", 1, payload(jid(0), queue: "q0"))
    zadd("retry", 2, payload(jid(1), queue: "broken"))
    call("SET", "queue:broken", "not a list")
    expect { Sidekiq::RetrySet.new.retry_all }.to raise_error(Ferrokiq::CommandError, /WRONGTYPE/)
    expect(call("ZCARD", "retry")).to eq(2)
    expect(call("LLEN", "queue:q0")).to eq(0)
  end

  it "kill_all moves every job unchanged to the dead set, scored now, and trims it once" do
    config[:dead_max_jobs] = 1_500
    seed("retry", 2_100)
    members = call("ZRANGE", "retry", 0, -1)
    before = Time.now.to_f
    expect(Sidekiq::RetrySet.new.kill_all).to eq(2_100)
    dead = call("ZRANGE", "dead", 0, -1, "WITHSCORES")
    expect(dead.size).to eq(1_499) # trimmed as the server trims: the newest max - 1
    expect(members).to include(*dead.map(&:first))
    expect(dead.map(&:last)).to all(be_between(before, Time.now.to_f))
    expect(call("ZCARD", "retry")).to eq(0)
  ensure
    config[:dead_max_jobs] = Sidekiq::Config::DEFAULTS[:dead_max_jobs]
  end

  it "kill_all(notify_failure: true) takes the job-by-job path, which runs the death handlers" do
    deaths = []
    handler = ->(job, _ex) { deaths << job["jid"] }
    config.death_handlers << handler
    seed("retry", 3)
    Sidekiq::RetrySet.new.kill_all(notify_failure: true)
    expect(deaths).to eq([jid(0), jid(1), jid(2)])
  ensure
    config.death_handlers.delete(handler)
  end
end
