# frozen_string_literal: true

RSpec.describe "Sidekiq.redis connections" do
  it "answers call(*words) with redis-client's RESP3 values", :native do
    Sidekiq.redis do |conn|
      expect(conn.call("PING")).to eq("PONG")
      expect(conn.call("SET", "k", 1)).to eq("OK")
      expect(conn.call("GET", "k")).to eq("1")
      expect(conn.call("GET", "missing")).to be_nil
      expect(conn.call("INCRBY", "n", 5)).to eq(5)
      conn.call("HSET", "h", { "a" => 1, "b" => "x" })
      expect(conn.call("HGETALL", "h")).to eq("a" => "1", "b" => "x")
      conn.call("ZADD", "z", 1.5, "m")
      expect(conn.call("ZRANGE", "z", 0, -1, "WITHSCORES")).to eq([["m", 1.5]])
      expect(conn.call("GET", "k") { |value| Integer(value) * 2 }).to eq(2)
      expect(conn.call("SET", "flag", "v", nx: true, ex: 60)).to eq("OK")
      expect(conn.call("SET", "flag", "v", nx: true)).to be_nil
      expect(conn.ttl("flag")).to be_between(1, 60)
    end
  end

  it "offers the command methods health checks and scripts use" do
    Sidekiq.redis do |conn|
      expect(conn.ping).to eq("PONG")
      expect(conn.info).to include("redis_version" => start_with("7."))
      expect(conn.lpush("l", %w[a b])).to eq(2)
      expect(conn.llen("l")).to eq(2)
      expect(conn.lrange("l", 0, -1)).to eq(%w[b a])
      expect(conn.sadd("s", "x")).to eq(1)
      expect(conn.smembers("s")).to eq(["x"])
      expect(conn.exists("l", "s", "nope")).to eq(2)
      expect(conn.scard("s")).to eq(1)
      sha = conn.script("load", "return ARGV[1]")
      expect(conn.evalsha(sha, [], ["hi"])).to eq("hi")
      expect(conn.dbsize).to eq(2)
      expect(conn.flushdb).to eq("OK")
      expect(conn.keys("*")).to eq([])
    end
  end

  it "sends pipelined and multi blocks in one go, replies in order" do
    replies = Sidekiq.redis do |conn|
      conn.pipelined do |pipe|
        pipe.set("a", "1")
        pipe.incr("a")
        pipe.get("a")
      end
    end
    expect(replies).to eq(["OK", 2, "2"])
    replies = Sidekiq.redis do |conn|
      conn.multi do |tx|
        tx.incr("a")
        tx.call("GET", "a")
      end
    end
    expect(replies).to eq([3, "3"])
    expect(Sidekiq.redis { |conn| conn.pipelined { |_| nil } }).to eq([])
  end

  it "walks whole collections with the cursor commands, as redis-client does" do
    Sidekiq.redis do |conn|
      conn.sadd("big", (1..2500).map(&:to_s))
      conn.hset("h", (1..300).to_h { |i| ["f#{i}", i.to_s] })
      conn.zadd("z", (1..300).flat_map { |i| [i, "m#{i}"] })
      conn.set("other", "1")

      expect(conn.sscan("big").to_a.map(&:to_i)).to match_array(1..2500)
      expect(conn.sscan("big", match: "2??").to_a).to match_array((200..299).map(&:to_s))
      pairs = []
      conn.hscan("h") { |field, value| pairs << [field, value] }
      expect(pairs.to_h).to eq((1..300).to_h { |i| ["f#{i}", i.to_s] })
      expect(conn.zscan("z").to_a).to include(["m7", "7"])
      expect(conn.zscan("z").count).to eq(300)
      expect(conn.scan(match: "o*").to_a).to eq(["other"])
    end
  end

  it "raises CommandError with the server's message" do
    Sidekiq.redis { |conn| conn.set("str", "x") }
    expect { Sidekiq.redis { |conn| conn.lpush("str", "y") } }
      .to raise_error(Sidekiq::RedisClientAdapter::CommandError, /WRONGTYPE/)
    expect { Sidekiq.redis { |conn| conn.call("NOSUCHCOMMAND") } }.to raise_error(Ferrokiq::CommandError, /unknown command/i)
    transaction = lambda do |tx|
      tx.set("a", "1")
      tx.lpush("str", "y")
    end
    expect { Sidekiq.redis { |conn| conn.multi(&transaction) } }.to raise_error(Ferrokiq::CommandError, /WRONGTYPE/)
  end

  it "requires a block" do
    expect { Sidekiq.redis }.to raise_error(ArgumentError, "requires a block")
  end
end
