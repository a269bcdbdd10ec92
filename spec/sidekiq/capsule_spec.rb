# frozen_string_literal: true

RSpec.describe Sidekiq::Capsule do # rubocop:disable Metrics/BlockLength
  let(:config) { Sidekiq::Config.new }

  it "is declared by name once, beside the default capsule that config.concurrency and queues set" do
    config.concurrency = 4
    config.queues = %w[critical,2 default]
    single = config.capsule("single") do |cap|
      cap.concurrency = 1
      cap.queues = %w[serial]
    end
    expect(config.capsule(:single)).to be(single)
    expect(config.capsules.keys).to eq(%w[default single])
    expect(config.default_capsule).to be(config.capsules["default"])
    expect([config.concurrency, config.total_concurrency]).to eq([4, 5])
    expect(config.queues).to eq(%w[critical critical default])
    expect(config.default_capsule.weights).to eq("critical" => 2, "default" => 0)
    expect([single.name, single.concurrency, single.queues, single.mode]).to eq(["single", 1, %w[serial], :strict])
    expect(single.config).to be(config)
    expect(single.logger).to be(config.logger)
  end

  it "takes its defaults from the configuration and names its queue-checking mode" do
    config[:concurrency] = 3
    cap = config.capsule("other")
    expect([cap.concurrency, cap.queues, cap.mode]).to eq([3, %w[default], :strict])
    cap.queues = [%w[a 1], "b,1"]
    expect(cap.mode).to eq(:random)
    cap.queues = %w[a,3 b,1]
    expect([cap.mode, cap.queue_names, cap.queue_weights]).to eq([:weighted, %w[a b], [["a", 3], ["b", 1]]])
    expect { cap.concurrency = "many" }.to raise_error(ArgumentError)
  end

  it "reaches Redis through a pool of its own" do
    cap = config.capsule("single")
    expect(cap.redis { |conn| conn.call("PING") }).to eq("PONG")
    expect(cap.redis_pool).to be(cap.local_redis_pool)
    expect { cap.redis }.to raise_error(ArgumentError)
  end
end
