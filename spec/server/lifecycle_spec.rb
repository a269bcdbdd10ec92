# frozen_string_literal: true

# Lifecycle events and remote control through the `<identity>-signals` list.
RSpec.describe "Server lifecycle" do
  EVENT_JOBS = <<~RUBY
    Sidekiq.configure_server do |config|
      %i[startup heartbeat quiet shutdown].each do |event|
        config.on(event) { Sidekiq.redis { |conn| conn.rpush("events", event.to_s) } }
      end
      config.on(:beat) { Sidekiq.redis { |conn| conn.incr("beats") } }
    end
  RUBY

  def events
    redis_list("events")
  end

  it "fires startup, heartbeat, quiet and shutdown in order, and obeys a remote quiet (TSTP)" do
    server = start_server(jobs: EVENT_JOBS)
    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }
    eventually { events == %w[startup heartbeat] }
    expect(Sidekiq.redis { |conn| conn.get("beats") }.to_i).to be >= 1

    Sidekiq.redis do |conn|
      conn.multi do |tx|
        tx.lpush("#{identity}-signals", "TSTP")
        tx.expire("#{identity}-signals", 60)
      end
    end
    eventually(timeout: 25) { Sidekiq.redis { |conn| conn.hget(identity, "quiet") } == "true" }
    expect(events).to eq(%w[startup heartbeat quiet])
    expect(server.stop).to be_success
    expect(events).to eq(%w[startup heartbeat quiet shutdown])
    expect(server.log).to match(/Starting processing, hit Ctrl-C to stop.*Terminating quiet threads.*Shutting down.*Bye!/m)
  end
end
