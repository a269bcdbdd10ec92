# frozen_string_literal: true

# Redis going away and coming back while the server runs.
RSpec.describe "Redis outages" do
  OUTAGE_JOBS = <<~RUBY
    class OutageJob
      include Sidekiq::Job
      def perform(index)
        Sidekiq.redis { |conn| conn.sadd("outage:done", index.to_s) }
      end
    end
  RUBY

  before { eval(OUTAGE_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  it "keeps the process up, logs the outage once and its length when Redis returns, loses no job" do
    own_redis = RedisServer.new.start
    pool = Sidekiq::RedisConnection.create(url: own_redis.url)
    client = Sidekiq::Client.new(pool: pool)
    client.push_bulk("class" => OutageJob, "args" => (1..50).map { |i| [i] })
    server = start_server(jobs: OUTAGE_JOBS, env: { "REDIS_URL" => own_redis.url })
    eventually { pool.with { |conn| conn.scard("outage:done") } == 50 }

    own_redis.stop
    sleep 3
    expect(server).to be_alive
    own_redis.start # an empty Redis again: it keeps no data across restarts
    client.push_bulk("class" => OutageJob, "args" => (51..100).map { |i| [i] })
    eventually(timeout: 30) { pool.with { |conn| conn.scard("outage:done") } == 50 }
    expect(pool.with { |conn| conn.smembers("outage:done") }.map(&:to_i)).to match_array(51..100)
    eventually { server.log.include?("Redis is online") }

    expect(server.log.scan("Error fetching job").size).to eq(1)
    expect(server.log).to match(/Redis is online, [\d.]+ sec downtime/)
    expect(server.stop).to be_success
  ensure
    own_redis&.destroy
  end
end
