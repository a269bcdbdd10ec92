# frozen_string_literal: true

# The real `sidekiq` executable running jobs against its own Redis.
RSpec.describe "bundle exec sidekiq" do
  # Job classes shared by the server and the client side of these examples.
  JOBS = <<~RUBY
    class RecordJob
      include Sidekiq::Job
      def perform(*args)
        Sidekiq.redis { |conn| conn.rpush("ran", Sidekiq.dump_json([jid, args])) }
      end
    end

    class QueueRecordJob
      include Sidekiq::Job
      def perform(label)
        Sidekiq.redis { |conn| conn.rpush("order", label) }
      end
    end
  RUBY

  before { eval(JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def ran
    redis_json_list("ran")
  end

  it "runs jobs with their exact args, then shuts down cleanly on TERM" do
    args = [1, "é ✓", 2.5, { "k" => [nil, true] }]
    jids = Array.new(30) { |i| RecordJob.perform_async(i, *args) }
    server = start_server(jobs: JOBS, args: %w[-c 4])
    eventually { ran.size == 30 }
    expect(ran.map(&:first)).to match_array(jids)
    expect(ran.map(&:last)).to match_array((0...30).map { |i| [i, *args] })

    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }
    info = JSON.parse(Sidekiq.redis { |conn| conn.hget(identity, "info") })
    expect(info).to include("concurrency" => 4, "queues" => ["default"], "pid" => server.pid,
                            "version" => Sidekiq::VERSION)
    expect(server.stop).to be_success
    expect(Sidekiq.redis { |conn| conn.smembers("processes") }).to be_empty
    expect(Sidekiq.redis { |conn| conn.get("stat:processed") }).to eq("30")
    expect(Sidekiq.redis { |conn| conn.hgetall("ferrokiq:working") }).to be_empty
    expect(server.log).to match(/class=RecordJob jid=\h{24} INFO: start/)
    expect(server.log).to match(/class=RecordJob jid=\h{24} elapsed=[\d.]+ INFO: done/)
  end

  { "reliable" => [], "basic" => %w[--fetch basic] }.each do |fetch, fetch_args|
    it "drains queues in strict order when no weights are given (#{fetch} fetch)" do
      %w[low default critical].each { |queue| 5.times { QueueRecordJob.set(queue: queue).perform_async(queue) } }
      start_server(jobs: JOBS, args: %w[-c 1 -q critical -q default -q low] + fetch_args)
      eventually { redis_list("order").size == 15 }
      expect(redis_list("order")).to eq(%w[critical] * 5 + %w[default] * 5 + %w[low] * 5)
    end
  end

  it "with basic fetch, runs every job of a large backlog exactly once, oldest first per queue" do
    QueueRecordJob.perform_bulk((1..500).map { |i| [i.to_s] })
    start_server(jobs: JOBS, args: %w[-c 1 --fetch basic])
    eventually { redis_list("order").size == 500 }
    expect(redis_list("order")).to eq((1..500).map(&:to_s))
  end

  it "honours weights: a heavier queue is drained sooner on average" do
    %w[heavy light].each { |queue| 100.times { QueueRecordJob.set(queue: queue).perform_async(queue) } }
    start_server(jobs: JOBS, args: %w[-c 1 -q heavy,10 -q light,1])
    eventually { redis_list("order").size == 200 }
    first_half = redis_list("order").first(100)
    expect(first_half.count("heavy")).to be > first_half.count("light")
  end

  it "runs scheduled jobs once they are due" do
    jid = RecordJob.perform_in(1, "later")
    start_server(jobs: "#{JOBS}\nSidekiq.default_configuration[:poll_interval_average] = 0.5\n")
    eventually { ran.any? }
    expect(ran).to eq([[jid, ["later"]]])
  end

  it "stops fetching on TSTP and reports itself quiet" do
    server = start_server(jobs: JOBS)
    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }
    server.signal("TSTP")
    eventually { server.log.include?("Received TSTP, no longer accepting new work") }
    RecordJob.perform_async("after quiet")
    server.signal("TTIN")
    eventually { server.log.include?("Thread TID-") }
    sleep 1
    expect(ran).to be_empty
    expect(server.stop).to be_success
    expect(queue_jobs.size).to eq(1)
    expect(identity).to start_with(Socket.gethostname)
  end

  it "puts unfinished jobs back on their queue when the shutdown timeout expires" do
    # The job says when it runs: an empty queue only means it was fetched.
    slow = "#{JOBS}\nclass SlowJob\n  include Sidekiq::Job\n  def perform\n" \
           "    Sidekiq.redis { |conn| conn.set('slow_job:running', '1') }\n    sleep 60\n  end\nend\n"
    stub_const("SlowJob", Class.new { include Sidekiq::Job })
    jid = SlowJob.perform_async
    server = start_server(jobs: slow, args: %w[-t 1])
    eventually { Sidekiq.redis { |conn| conn.get("slow_job:running") } }
    expect(server.stop).to be_success
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jid])
    expect(server.log).to include("Terminating 1 busy threads")
  end
end
