# frozen_string_literal: true

require "spec_helper"
require "connection_pool"
require "redis"
require "sidekiq/api"

# Where a Rust fast path and a Ruby path both remain, the same input must leave the same bytes
# in Redis (docs/internals.md, §4). Each example runs one input through both paths on an empty
# database and compares everything Redis holds afterwards. The Ruby paths are the ones a pool of
# another client takes (`Sidekiq::Client.via`, `Client.new(pool:)`): redis-rb 4.8 here.
RSpec.describe "fast paths and their Ruby twins" do # rubocop:disable Metrics/BlockLength
  let(:fixed_time) { Time.at(1_764_500_000, 123_456, :usec) }
  # Another database, so that a state read from it proves the other client wrote it.
  let(:foreign_pool) { ConnectionPool.new(size: 2) { Redis.new(url: REDIS.url(db: 5)) } }
  let(:foreign_reader) { Sidekiq::RedisConnection.create(url: REDIS.url(db: 5), size: 1) }

  before do
    stub_const("ParityJob", Class.new do
      include Sidekiq::Job
      sidekiq_options queue: "parity", retry: 3
    end)
    stub_const("PassThrough", Class.new { def call(*) = yield })
    allow(Time).to receive(:now).and_return(fixed_time)
  end

  after do
    foreign_pool.with(&:flushdb)
    foreign_pool.shutdown(&:close)
  end

  # Every key with its type and contents, as bytes (scores as Redis prints them).
  # Read through Ferrokiq's connections whichever client wrote, so replies have one shape.
  def redis_state(pool = Sidekiq.redis_pool)
    pool = foreign_reader if pool.equal?(foreign_pool)
    pool.with do |conn|
      conn.call("KEYS", "*").sort.to_h do |key|
        [key, contents(conn, key)]
      end
    end
  end

  def contents(conn, key)
    case conn.call("TYPE", key)
    when "list" then conn.call("LRANGE", key, 0, -1)
    when "set" then conn.call("SMEMBERS", key).sort
    when "zset" then conn.call("ZRANGE", key, 0, -1, "WITHSCORES").map(&:to_s)
    when "hash" then conn.call("HGETALL", key).to_a.flatten.sort
    else conn.call("GET", key)
    end
  end

  # The state Redis holds after +action+ runs on an empty database.
  def state_after(pool = Sidekiq.redis_pool, &action)
    pool.with(&:flushdb)
    action.call
    redis_state(pool)
  end

  # +action+ run with Ferrokiq's own connections, then through the other client's pool.
  def both_paths(&action)
    [state_after(&action), state_after(foreign_pool) { Sidekiq::Client.via(foreign_pool, &action) }]
  end

  # The jids a bulk push draws differ between runs; everything else must not.
  def without_jids(state)
    JSON.parse(JSON.generate(state).gsub(/\\"jid\\":\\"\h{24}\\"/, '\"jid\":\"J\"'))
  end

  it "pushes a job to its queue identically" do
    native, ruby = both_paths do
      ParityJob.set(jid: "a" * 24).perform_async("é", { "k" => [1, 2.5, nil] })
    end
    expect(native.keys).to eq(%w[queue:parity queues])
    expect(ruby).to eq(native)
  end

  it "stamps enqueued_at identically: in place over an old one, and when Ruby writes the JSON" do
    native, ruby = both_paths do
      Sidekiq::Client.push("class" => ParityJob, "args" => [1], "jid" => "c" * 24, "enqueued_at" => 1.5, "tag" => "t")
      # A Symbol outside the args: Rust's writer hands the job to Ruby's JSON.
      Sidekiq::Client.push("class" => ParityJob, "args" => [2], "jid" => "d" * 24, "origin" => :cron)
    end
    stored = native.fetch("queue:parity").map { |json| JSON.parse(json) }.reverse
    expect(stored.map { |job| job.keys - %w[class args jid queue retry] }).to eq(
      [%w[enqueued_at tag created_at], %w[origin created_at enqueued_at]]
    )
    expect(stored.map { |job| job["enqueued_at"] }.uniq).to eq([fixed_time.to_f])
    expect(ruby).to eq(native)
  end

  it "schedules a job identically (score from `at`, no enqueued_at)" do
    native, ruby = both_paths do
      Sidekiq::Client.push("class" => ParityJob, "args" => [1], "jid" => "b" * 24, "at" => fixed_time.to_f + 60)
    end
    expect(native.keys).to eq(%w[schedule])
    expect(ruby).to eq(native)
  end

  it "pushes a bulk batch identically through Rust, through the middleware chain and through another pool" do
    args = Array.new(25) { |index| [index, "x" * index] }
    bulk = -> { Sidekiq::Client.push_bulk("class" => ParityJob, "args" => args) }
    native, foreign = both_paths(&bulk)
    chained = state_after do
      client = Sidekiq::Client.new
      client.middleware { |chain| chain.add(PassThrough) }
      client.push_bulk("class" => ParityJob, "args" => args)
    end
    expect(native.fetch("queue:parity").size).to eq(25)
    expect(without_jids(foreign)).to eq(without_jids(native))
    expect(without_jids(chained)).to eq(without_jids(native))
  end

  # Slices pass the chain one after another in Rust (Client#stream_slice): each but the last is
  # sent ahead, and a slice of 256 jobs or more is streamed in a MULTI while its chain runs;
  # an app's own raw_push turns both off. No middleware: Rust writes the slices from the template.
  it "pushes a bulk push's slices identically when streamed, sent ahead and through raw_push" do
    args = Array.new(700) { |index| [index, "y" * (index % 50)] }
    in_slices = lambda do |client_class, batch_size|
      client = client_class.new
      client.middleware { |chain| chain.add(PassThrough) }
      client.push_bulk("class" => ParityJob, "args" => args, "batch_size" => batch_size)
    end
    overriding = Class.new(Sidekiq::Client) { def raw_push(payloads) = super }
    unchained = state_after { Sidekiq::Client.push_bulk("class" => ParityJob, "args" => args, "batch_size" => 300) }
    sent_ahead = state_after { in_slices.call(Sidekiq::Client, 100) }
    transactions = command_calls("exec")
    streamed = state_after { in_slices.call(Sidekiq::Client, 300) }
    expect(command_calls("exec") - transactions).to eq(2) # the slices of 300; the last 100 go in one piece
    pushed = state_after { in_slices.call(overriding, 300) }
    expect(streamed.fetch("queue:parity").size).to eq(700)
    expect(without_jids(streamed)).to eq(without_jids(pushed))
    expect(without_jids(sent_ahead)).to eq(without_jids(pushed))
    expect(without_jids(unchained)).to eq(without_jids(pushed))
  end


  it "adds to the dead set and trims it identically" do
    Sidekiq.default_configuration[:dead_max_jobs] = 3
    native, ruby = both_paths do
      dead = Sidekiq::DeadSet.new
      5.times do |index|
        dead.kill(Sidekiq.dump_json("class" => "ParityJob", "args" => [index], "jid" => format("%024x", index)),
                  notify_failure: false)
      end
    end
    # Sidekiq's trim (ZREMRANGEBYRANK 0 -max) keeps max - 1 entries.
    expect(native.fetch("dead").map { |pair| pair[/"args\\":\[(\d)/, 1] }).to eq(%w[3 4])
    expect(ruby).to eq(native)
  ensure
    Sidekiq.default_configuration[:dead_max_jobs] = 10_000
  end

  describe "finding a job by jid" do
    let(:wanted) { "c" * 24 }
    # A decoy holds the wanted jid in its args: only a payload's own jid may match.
    let(:decoy) { Sidekiq.dump_json("class" => "ParityJob", "args" => [wanted], "jid" => "d" * 24) }
    let(:target) { Sidekiq.dump_json("class" => "ParityJob", "args" => ["é\n\"q\""], "jid" => wanted) }

    before do
      [Sidekiq.redis_pool, foreign_pool].each do |pool|
        pool.with do |conn|
          conn.call("ZADD", "retry", "1.5", decoy, "2.5", target)
          conn.call("RPUSH", "queue:parity", decoy, target)
        end
      end
    end

    it "finds the same entry in a sorted set in Rust and in Ruby" do
      native = Sidekiq.redis { |conn| Ferrokiq::Scan.find_in_sorted_set(conn, "retry", wanted) }
      ruby = foreign_pool.with { |conn| Ferrokiq::Scan.find_in_sorted_set(conn, "retry", wanted) }
      expect(native).to eq([target, 2.5])
      expect(ruby).to eq(native)
      expect(foreign_pool.with { |conn| Ferrokiq::Scan.find_in_sorted_set(conn, "retry", "e" * 24) }).to be_nil
    end

    it "finds the same entry in a list in Rust and in Ruby" do
      native = Sidekiq.redis { |conn| Ferrokiq::Scan.find_in_list(conn, "queue:parity", wanted) }
      ruby = foreign_pool.with { |conn| Ferrokiq::Scan.find_in_list(conn, "queue:parity", wanted) }
      expect(native).to eq(target)
      expect(ruby).to eq(native)
    end
  end
end
