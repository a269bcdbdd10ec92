# frozen_string_literal: true

RSpec.describe "Sidekiq configuration" do
  def with_env(vars)
    saved = vars.keys.to_h { |key| [key, ENV.fetch(key, nil)] }
    vars.each { |key, value| ENV[key] = value }
    yield
  ensure
    saved.each { |key, value| ENV[key] = value }
  end

  it "runs configure_client blocks in a client and configure_server blocks only in a server" do
    client_ran = server_ran = false
    Sidekiq.configure_client { |config| client_ran = config.equal?(Sidekiq.default_configuration) }
    Sidekiq.configure_server { |_config| server_ran = true }
    expect(client_ran).to be(true)
    expect(server_ran).to be(false)
    expect(Sidekiq.server?).to be(false)

    stub_const("Sidekiq::CLI", Class.new)
    Sidekiq.configure_server { |_config| server_ran = true }
    expect(server_ran).to be(true)
    expect(Sidekiq.server?).to be(true)
  end

  it "connects with url:, db: and password: options" do
    secured = RedisServer.new(password: "s3cret").start
    config = Sidekiq::Config.new
    config.redis = { url: "redis://127.0.0.1:#{secured.port}", password: "s3cret", db: 2 }
    config.redis { |conn| conn.set("where", "db2") }
    alt = Sidekiq::Config.new
    alt.redis = { "url" => "redis://:s3cret@127.0.0.1:#{secured.port}/2" }
    expect(alt.redis { |conn| conn.get("where") }).to eq("db2")
    dynamic = Sidekiq::Config.new
    dynamic.redis = { host: "127.0.0.1", port: secured.port, password: ->(_user) { "s3cret" }, db: 2 }
    expect(dynamic.redis { |conn| conn.get("where") }).to eq("db2")
  ensure
    secured&.destroy
  end

  it "defaults to REDIS_URL, or the variable REDIS_PROVIDER names" do
    with_env("REDIS_URL" => REDIS.url(db: 4), "MY_REDIS" => nil, "REDIS_PROVIDER" => nil) do
      Sidekiq::Config.new.redis { |conn| conn.set("marker", "4") }
    end
    with_env("REDIS_URL" => "redis://127.0.0.1:1/0", "MY_REDIS" => REDIS.url(db: 4), "REDIS_PROVIDER" => "MY_REDIS") do
      expect(Sidekiq::Config.new.redis { |conn| conn.get("marker") }).to eq("4")
    end
    with_env("REDIS_PROVIDER" => "redis://oops:1") do
      expect { Sidekiq::Config.new.redis_pool }.to raise_error(RuntimeError, /REDIS_PROVIDER should be set to the name/)
    end
  ensure
    Sidekiq::RedisConnection.create(url: REDIS.url(db: 4)).with(&:flushdb)
  end

  it "reports pool size (size: or pool_size:) and the redacted URL" do
    pool = Sidekiq::RedisConnection.create(url: "redis://:hunter2@127.0.0.1:6379/1", size: 12)
    expect(pool.size).to eq(12)
    expect(pool.url).to eq("redis://:REDACTED@127.0.0.1:6379/1")
    expect(Sidekiq::RedisConnection.create(pool_size: 3).size).to eq(3)
  end

  it "rejects what Sidekiq 7 rejects" do
    expect { Sidekiq::RedisConnection.create(namespace: "x") }.to raise_error(ArgumentError, /namespace/)
    expect { Sidekiq::RedisConnection.create(protocol: 2) }.to raise_error(ArgumentError, /protocol 2/)
    expect { Sidekiq::RedisConnection.create(url: "http://x") }.to raise_error(Ferrokiq::ConfigurationError)
    expect { Sidekiq::RedisConnection.create(timeout: 0) }.to raise_error(ArgumentError, /timeout/)
  end

  it "merges default_job_options with string keys" do
    original = Sidekiq.default_job_options
    Sidekiq.default_job_options = { queue: "q2", "backtrace" => 5 }
    expect(Sidekiq.default_job_options).to eq("retry" => true, "queue" => "q2", "backtrace" => 5)
    Sidekiq::Client.push("class" => "Anon", "args" => [])
    expect(queue_jobs("q2").first).to include("backtrace" => 5)
  ensure
    Sidekiq.instance_variable_set(:@default_job_options, original)
  end

  it "registers lifecycle events and error/death handlers" do
    config = Sidekiq::Config.new
    config.on(:startup) { :started }
    expect(config[:lifecycle_events][:startup].size).to eq(1)
    expect { config.on("startup") {} }.to raise_error(ArgumentError, "Symbols only please: startup")
    expect { config.on(:boot) {} }.to raise_error(ArgumentError, "Invalid event name: boot")
    expect(config.error_handlers.size).to eq(1)
    config.death_handlers << ->(_job, _ex) {}
    expect(config.death_handlers.size).to eq(1)
    expect(Sidekiq::Config.new.death_handlers).to be_empty
  end

  it "fires lifecycle events in order, once (except :beat), reporting failures" do
    config = Sidekiq::Config.new
    io = StringIO.new
    config.logger = Sidekiq::Logger.new(io)
    ran = []
    config.on(:shutdown) { ran << :first }
    config.on(:shutdown) { raise "boom" }
    config.on(:shutdown) { ran << :last }
    config.on(:beat) { ran << :beat }
    config.fire_event(:shutdown, reverse: true)
    config.fire_event(:shutdown, reverse: true)
    2.times { config.fire_event(:beat, oneshot: false) }
    expect(ran).to eq(%i[last first beat beat])
    expect(io.string).to include('"event":"shutdown"', "RuntimeError: boom")
    config.on(:startup) { raise ArgumentError, "bad boot" }
    expect { config.fire_event(:startup, reraise: true) }.to raise_error(ArgumentError, "bad boot")
    config.logger = nil
    expect(config.logger.level).to eq(Logger::FATAL)
  end

  it "exposes concurrency, queues and options" do
    config = Sidekiq::Config.new
    expect(config.concurrency).to eq(5)
    config.concurrency = "7"
    config.queues = %w[a b]
    config[:timeout] = 8
    expect([config.concurrency, config.queues, config[:timeout]]).to eq([7, %w[a b], 8])
  end

  it "logs in Sidekiq's layout" do
    io = StringIO.new
    logger = Sidekiq::Logger.new(io)
    logger.info("hello")
    expect(io.string).to match(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z pid=#{Process.pid} tid=\w+ INFO: hello\n\z/)
  end
end
