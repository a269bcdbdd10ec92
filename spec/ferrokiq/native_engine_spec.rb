# frozen_string_literal: true

require "securerandom"
require "socket"

# The engine binding in this process: the Ruby values that cross into Rust and back (payload
# bytes, job pairs, events), exercised directly. bin/test runs this file a second time with
# GC.stress on, so that a value the binding forgot to keep alive is collected under it.
RSpec.describe "Ferrokiq::Native::Engine", :native do
  let(:identity) { "#{Socket.gethostname}:#{Process.pid}:#{SecureRandom.hex(6)}" }

  def start_engine(**overrides)
    options = {
      "identity" => identity, "hostname" => Socket.gethostname, "tag" => "", "labels" => [],
      "concurrency" => 2, "queues" => [["default", 0]], "fetch" => "reliable", "version" => Sidekiq::VERSION,
      "dead_max_jobs" => 10, "dead_timeout" => 60.0, "stranded_after" => 60.0, "scheduler_defaults" => nil
    }.merge(overrides)
    @engine = Ferrokiq::Native::Engine.new(Sidekiq.default_configuration.redis_pool.native, options)
  end

  after { @engine&.stop }

  def working_list
    Sidekiq.redis { |conn| conn.lrange("ferrokiq:working:#{identity}:default", 0, -1) }
  end

  def take_job
    eventually { @engine.next_job(0.2) }
  end

  it "hands out payloads byte for byte, invalid UTF-8 included, and forgets acknowledged ones" do
    latin1 = (+"{\"class\":\"X\",\"args\":[\"caf\xE9\"]}").force_encoding(Encoding::BINARY)
    Sidekiq.redis { |conn| conn.lpush("queue:default", ['{"class":"A","args":[]}', latin1]) }
    engine = start_engine
    taken = [take_job, take_job]
    expect(taken.map(&:first)).to eq(%w[default default])
    expect(taken.map(&:last).map(&:b)).to eq(['{"class":"A","args":[]}'.b, latin1])
    expect(taken.map(&:last).map(&:encoding).uniq).to eq([Encoding::UTF_8])
    taken.each { |queue, payload| engine.acknowledge(queue, payload) }
    eventually { working_list.empty? }
  end

  it "puts back what it took when quiet, answers false, and reports as events" do
    Sidekiq.redis { |conn| conn.lpush("queue:default", Array.new(20) { |i| %({"class":"A","args":[#{i}]}) }) }
    engine = start_engine
    queue, payload = take_job
    engine.work_started("tid1", queue, payload, ["A", "jid", nil, nil])
    engine.quiet
    expect(engine.next_job(0.1)).to be(false)
    expect(Sidekiq.redis { |conn| conn.llen("queue:default") }).to eq(19)
    expect(working_list).to eq([payload])
    expect(engine.busy).to eq(1)
    engine.work_finished("tid1", false)
    engine.acknowledge(queue, payload)
    eventually { working_list.empty? }
    expect(engine.events).to all(match([String, String, nil, nil]))
  end

  it "keeps an abandoned job in the working list until the sweep puts it back, then runs it again" do
    Sidekiq.redis { |conn| conn.lpush("queue:default", '{"class":"A","args":[]}') }
    engine = start_engine("stranded_after" => 1.0)
    queue, payload = take_job
    engine.abandon(queue, payload)
    expect(working_list).to eq([payload])
    expect(engine.next_job(1.5)).to be_nil # not before the bound (4 s: the Redis timeout + 1 s)
    expect(eventually(timeout: 15) { engine.next_job(0.5) }).to eq([queue, payload])
    # The sweep reports after its move, so the job can be handed out before the report lands.
    seen = []
    eventually { seen.concat(engine.events).any? { |level, message| level == "warn" && message.include?("Put 1 jobs back") } }
    expect(seen).to include(["warn", a_string_including("Put 1 jobs back"), nil, nil])
  end

  it "writes retries and dead jobs as the bytes it is given" do
    engine = start_engine
    odd = (+"{\"class\":\"X\",\"args\":[\"\xFF\"]}").force_encoding(Encoding::BINARY)
    engine.schedule_retry(odd, Time.now.to_f + 60)
    engine.send_to_morgue(odd)
    expect(Sidekiq.redis { |conn| conn.zrange("retry", 0, -1) }.map(&:b)).to eq([odd])
    expect(Sidekiq.redis { |conn| conn.zrange("dead", 0, -1) }.map(&:b)).to eq([odd])
    expect(engine.failure).to be_nil
  end
end
