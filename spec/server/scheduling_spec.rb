# frozen_string_literal: true

# Due scheduled jobs and retries reach their queues, moved by the engine (one lease holder at a
# time); with client middleware, see scheduler_hand_off_spec.rb.
RSpec.describe "Scheduling" do
  SCHEDULE_JOBS = <<~RUBY
    class TimedJob
      include Sidekiq::Job
      def perform(label)
        Sidekiq.redis { |conn| conn.rpush("timed", Sidekiq.dump_json([label, jid])) }
      end
    end
  RUBY

  before { eval(SCHEDULE_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def timed
    redis_json_list("timed")
  end

  it "moves due scheduled jobs and retries to their queues, keeping jid and created_at" do
    scheduled = TimedJob.set(queue: "later").perform_in(1, "scheduled")
    retry_payload = { "retry" => true, "queue" => "default", "class" => "TimedJob", "args" => ["retried"],
                      "jid" => "a" * 24, "created_at" => 1_700_000_000.5, "retry_count" => 0 }
    Sidekiq.redis { |conn| conn.zadd("retry", Time.now.to_f, JSON.generate(retry_payload)) }
    Sidekiq.redis { |conn| conn.zadd("schedule", Time.now.to_f, "{garbage") }
    start_server(jobs: SCHEDULE_JOBS, args: %w[-q default -q later])
    eventually { timed.size == 2 }
    expect(timed).to contain_exactly(["scheduled", scheduled], ["retried", "a" * 24])
    expect(Sidekiq.redis { |conn| conn.zrange("dead", 0, -1) }).to eq(["{garbage"])
    expect(Sidekiq.redis { |conn| conn.zcard("schedule") + conn.zcard("retry") }).to eq(0)
  end

  it "lets one process at a time schedule" do
    servers = Array.new(2) { start_server(jobs: SCHEDULE_JOBS) }
    identities = eventually { (ids = Sidekiq.redis { |conn| conn.smembers("processes") }).size == 2 && ids }
    holder = eventually { Sidekiq.redis { |conn| conn.get("ferrokiq:scheduler") } }
    expect(identities).to include(holder)
    jids = Array.new(20) { |i| TimedJob.perform_in(1 + (i * 0.05), "probe #{i}") }
    eventually { timed.size == 20 }
    expect(timed.map(&:last)).to match_array(jids)
    servers.each { |server| expect(server.stop).to be_success }
    expect(Sidekiq.redis { |conn| conn.get("ferrokiq:scheduler") }).to be_nil
  end
end
