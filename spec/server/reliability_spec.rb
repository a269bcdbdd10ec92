# frozen_string_literal: true

# Reliable fetch: jobs survive SIGKILL.
RSpec.describe "Reliable fetch" do
  COUNTING_JOBS = <<~RUBY
    class CountJob
      include Sidekiq::Job
      def perform(index)
        sleep 0.002
        Sidekiq.redis { |conn| conn.sadd("done", index.to_s) }
      end
    end
  RUBY

  before { eval(COUNTING_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def done_count
    Sidekiq.redis { |conn| conn.scard("done") }
  end

  it "runs every job at least once although the server is killed with SIGKILL three times" do
    total = 3000
    CountJob.perform_bulk((1..total).map { |i| [i] })
    3.times do
      server = start_server(jobs: COUNTING_JOBS, args: %w[-c 5])
      before = done_count
      eventually { done_count > before + 50 }
      server.kill!
    end
    expect(done_count).to be < total
    working = Sidekiq.redis { |conn| conn.hgetall("ferrokiq:working") }
    expect(working).not_to be_empty

    start_server(jobs: COUNTING_JOBS, args: %w[-c 5])
    eventually(timeout: 90) { done_count == total }
    expect(Sidekiq.redis { |conn| conn.llen("queue:default") }).to eq(0)
  end

  it "runs each job exactly once across clean restarts (TERM)" do
    once = <<~RUBY
      class OnceJob
        include Sidekiq::Job
        def perform(index)
          sleep 0.001
          Sidekiq.redis { |conn| conn.hincrby("runs", index.to_s, 1) }
        end
      end
    RUBY
    stub_const("OnceJob", Class.new { include Sidekiq::Job })
    OnceJob.perform_bulk((1..600).map { |i| [i] })
    2.times do |round|
      server = start_server(jobs: once, args: %w[-c 5]).wait_until_running
      eventually { Sidekiq.redis { |conn| conn.hlen("runs") } > 100 * (round + 1) }
      expect(server.stop).to be_success
    end
    start_server(jobs: once, args: %w[-c 5])
    eventually(timeout: 60) { Sidekiq.redis { |conn| conn.hlen("runs") } == 600 }
    expect(Sidekiq.redis { |conn| conn.hvals("runs") }.map(&:to_i).uniq).to eq([1])
  end

  it "picks up jobs arriving on any of several queues while idle, each exactly once" do
    counting = <<~RUBY
      class IdleJob
        include Sidekiq::Job
        def perform(index)
          Sidekiq.redis { |conn| conn.hincrby("runs", index.to_s, 1) }
        end
      end
    RUBY
    stub_const("IdleJob", Class.new { include Sidekiq::Job })
    server = start_server(jobs: counting, args: %w[-c 3 -q alpha -q beta -q gamma]).wait_until_running
    queues = %w[alpha beta gamma]
    30.times do |i|
      IdleJob.set(queue: queues[i % 3]).perform_async(i)
      sleep 0.03
    end
    eventually { Sidekiq.redis { |conn| conn.hlen("runs") } == 30 }
    expect(server.stop).to be_success
    expect(Sidekiq.redis { |conn| conn.hvals("runs") }.map(&:to_i).uniq).to eq([1])
    expect(queues.sum { |queue| Sidekiq.redis { |conn| conn.llen("queue:#{queue}") } }).to eq(0)
    expect(Sidekiq.redis { |conn| conn.hgetall("ferrokiq:working") }).to be_empty
  end

  it "prefetches no more than one waiting job per thread when jobs are slow" do
    slow = "class SlowishJob\n  include Sidekiq::Job\n  def perform\n    sleep 0.2\n  end\nend\n"
    stub_const("SlowishJob", Class.new { include Sidekiq::Job })
    SlowishJob.perform_bulk(Array.new(40) { [] })
    server = start_server(jobs: slow, args: %w[-c 2]).wait_until_running
    identity = Sidekiq.redis { |conn| conn.smembers("processes") }.find { |id| id.include?(":#{server.pid}:") }
    taken = Array.new(8) do
      sleep 0.25
      Sidekiq.redis { |conn| conn.llen("ferrokiq:working:#{identity}:default") }
    end
    # 2 running + 2 waiting, and one more that an idle blocking fetch may bring.
    expect(taken.max).to be <= 5
  end

  it "with basic fetch, a quiet then stopped server has run each job once and put the rest back" do
    once = <<~RUBY
      class RunOnceJob
        include Sidekiq::Job
        def perform(index)
          sleep 0.001
          Sidekiq.redis { |conn| conn.rpush("runs", index.to_s) }
        end
      end
    RUBY
    eval(once, TOPLEVEL_BINDING) # rubocop:disable Security/Eval
    RunOnceJob.perform_bulk((1..400).map { |i| [i] })
    server = start_server(jobs: once, args: %w[-c 4 --fetch basic])
    eventually { redis_list("runs").size > 40 }
    server.signal("TSTP")
    eventually { server.log.include?("Received TSTP") }
    expect(server.stop).to be_success
    runs = redis_list("runs")
    remaining = redis_json_list("queue:default").map { |job| job["args"].first.to_s }
    expect(runs.size).to be < 400
    expect(runs).to eq(runs.uniq)
    expect((runs + remaining).sort).to eq((1..400).map(&:to_s).sort)
  end

  it "with basic fetch, requeues what it fetched on TERM and keeps no working lists" do
    CountJob.perform_bulk((1..200).map { |i| [i] })
    server = start_server(jobs: COUNTING_JOBS, args: %w[-c 2 --fetch basic])
    eventually { done_count > 20 }
    expect(server.stop).to be_success
    remaining = Sidekiq.redis { |conn| conn.llen("queue:default") }
    expect(done_count + remaining).to be >= 200
    expect(Sidekiq.redis { |conn| conn.hgetall("ferrokiq:working") }).to be_empty
  end
end
