# frozen_string_literal: true

# A Ferrokiq server next to Debian's real Sidekiq 6.4.1 on one Redis.
RSpec.describe "Ferrokiq server with Sidekiq 6.4.1", if: SidekiqPeer.available? do
  RECORDING_JOBS = <<~RUBY
    class InteropJob
      include Sidekiq::Worker
      def perform(*args)
        Sidekiq.redis { |conn| conn.rpush("ran", Sidekiq.dump_json([jid, args, Sidekiq::VERSION])) }
      end
    end
  RUBY

  before { stub_const("InteropJob", Class.new { include Sidekiq::Job }) }

  def ran
    redis_json_list("ran")
  end

  it "runs jobs a Sidekiq 6.4.1 client pushed" do
    jids = JSON.parse(SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url))
      jids = [Sidekiq::Client.push("class" => "InteropJob", "args" => ["now", 1.5, {"k" => "é"}])]
      jids += Sidekiq::Client.push_bulk("class" => "InteropJob", "args" => [[1], [2]], "queue" => "other")
      puts JSON.generate(jids)
    RUBY
    start_server(jobs: RECORDING_JOBS, args: %w[-q default -q other])
    eventually { ran.size == 3 }
    expect(ran.map(&:first)).to match_array(jids)
    expect(ran.map { |_, args, _| args }).to match_array([["now", 1.5, { "k" => "é" }], [1], [2]])
    expect(ran.map(&:last).uniq).to eq([Sidekiq::VERSION])
  end

  it "leaves retries and scheduled jobs that Sidekiq 6.4.1 runs" do
    failing_once = <<~RUBY
      class InteropJob
        include Sidekiq::Worker
        sidekiq_retry_in { 1 }
        def perform(*)
          raise "first try fails on Ferrokiq"
        end
      end
    RUBY
    retried = InteropJob.perform_async("retried")
    server = start_server(jobs: failing_once)
    eventually { Sidekiq.redis { |conn| conn.zcard("retry") } == 1 }
    expect(server.stop).to be_success
    scheduled = InteropJob.perform_in(1, "scheduled")

    SidekiqPeer.with_server("Sidekiq.options[:poll_interval_average] = 1\n#{RECORDING_JOBS}", redis_url: REDIS.url) do
      eventually(timeout: 45) { ran.size == 2 }
    end
    expect(ran.map { |jid, args, version| [jid, args, version] })
      .to contain_exactly([retried, ["retried"], "6.4.1"], [scheduled, ["scheduled"], "6.4.1"])
  end

  it "shows up in Sidekiq 6.4.1's ProcessSet, Workers and Stats" do
    slow = "class SlowJob\n  include Sidekiq::Job\n  def perform\n    sleep 15\n  end\nend\n"
    stub_const("SlowJob", Class.new { include Sidekiq::Job })
    3.times { SlowJob.perform_async }
    start_server(jobs: "#{slow}#{RECORDING_JOBS}", args: %w[-c 2 -q default -q other -g interop])
    InteropJob.set(queue: "other").perform_async("counted")
    view = eventually(timeout: 30) do
      seen = JSON.parse(SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url))
        require "sidekiq/api"
        processes = Sidekiq::ProcessSet.new.map { |p| p.instance_variable_get(:@attribs) }
        workers = Sidekiq::Workers.new.map { |process_id, tid, work| [process_id, work["queue"], work["payload"]["class"]] }
        stats = Sidekiq::Stats.new
        puts JSON.generate("processes" => processes, "workers" => workers, "enqueued" => stats.enqueued,
                           "workers_size" => stats.workers_size, "processes_size" => stats.processes_size)
      RUBY
      seen if seen["processes"].first&.fetch("busy") == 2 && seen["workers"].size == 2
    end
    process = view["processes"].first
    expect(process).to include("concurrency" => 2, "queues" => %w[default other], "tag" => "interop", "busy" => 2,
                               "quiet" => "false")
    expect(view["workers"].map(&:last)).to eq(%w[SlowJob SlowJob])
    expect(view["workers_size"]).to eq(2)
    expect(view["processes_size"]).to eq(1)
  end
end
