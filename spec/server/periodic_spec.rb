# frozen_string_literal: true

require "tmpdir"
require_relative "../support/periodic_tick_jobs"

# Periodic jobs (sidekiq-scheduler's configuration and API, built in), ticked by the Rust
# scheduler of real `exe/sidekiq` processes. The cron and duration forms and both DST days
# are covered by the Rust unit tests in core/src/periodic/ (cron.rs, duration.rs, rule.rs).
module PeriodicSpecSource
  TICK_JOBS = PeriodicTickJobs::SOURCE

  # config/sidekiq_scheduler.yml as the configuration guide writes it (no `schedule` root key).
  GUIDE_SCHEDULE = <<~YAML
    guide_tick:
      every: ["1s", { first_in: "0s" }]
      class: TickJob
      args: [guide]
      include_metadata: true
    paused_tick:
      cron: "* * * * * *"
      class: TickJob
      args: [paused]
      enabled: false
  YAML
end

RSpec.describe "Periodic jobs" do # rubocop:disable Metrics/BlockLength
  before { eval(PeriodicSpecSource::TICK_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  # `Sidekiq.schedule =` remembers the schedule for `reload_schedule!`; examples start afresh.
  after { Sidekiq.instance_variable_set(:@schedule, nil) }

  def ticks(label = nil)
    redis_json_list("ticks").select { |name, _| label.nil? || name == label }.map(&:last)
  end

  def every_second(label)
    { "cron" => "* * * * * *", "class" => "TickJob", "args" => [label], "include_metadata" => true }
  end

  def lease_holder
    Sidekiq.redis { |conn| conn.get("ferrokiq:scheduler") }
  end

  it "is loaded by the plugin's require names and answers its API" do
    expect { require "sidekiq-scheduler" }.not_to raise_error
    expect { require "sidekiq/scheduler" }.not_to raise_error
    expect(Sidekiq::Scheduler).to equal(SidekiqScheduler::Scheduler)

    expect(Sidekiq.public_send(:schedule=, { "report" => { "every" => "1h", "class" => "TickJob", "queue" => "low" },
                                             "nightly" => { cron: "0 3 * * * Europe/Paris", args: "x" } }))
      .to eq(:written)
    expect(Sidekiq.get_schedule.keys).to contain_exactly("report", "nightly")
    expect(Sidekiq.get_schedule("nightly"))
      .to eq("cron" => "0 3 * * * Europe/Paris", "args" => ["x"], "class" => "nightly")
    expect(Sidekiq.get_schedule("report")["queue"]).to eq("low")
    expect(Sidekiq::Scheduler.reload_schedule!).to eq(:current)

    Sidekiq.set_schedule("weekly", { "cron" => "@weekly", "class" => "TickJob" })
    expect(Sidekiq.get_schedule("weekly")).to include("cron" => "@weekly", "queue" => "default")
    Sidekiq.remove_schedule("report")
    expect(Sidekiq.get_schedule.keys).to contain_exactly("nightly", "weekly")
    expect(Sidekiq.redis { |conn| conn.zrange("schedules_changed", 0, -1) }).to include("report", "weekly")

    scheduler = SidekiqScheduler::Scheduler.instance
    expect(scheduler.job_enabled?("weekly")).to be(true)
    scheduler.toggle_job_enabled("weekly")
    expect(scheduler.job_enabled?("weekly")).to be(false)
    expect(Sidekiq.redis { |conn| conn.hget("sidekiq-scheduler:states", "weekly") }).to eq('{"enabled":false}')
    expect { Sidekiq.set_schedule("broken", { "class" => "TickJob" }) }.to raise_error(ArgumentError, /cron, every/)
  end

  it "skips entries whose rails_env excludes this environment" do
    saved = ENV.fetch("RAILS_ENV", nil)
    ENV["RAILS_ENV"] = "staging"
    Sidekiq.public_send(:schedule=, { "prod_only" => { "every" => "1m", "rails_env" => "production" },
                                      "here" => { "every" => "1m", "rails_env" => "production, staging" } })
    expect(Sidekiq.get_schedule.keys).to eq(["here"])
  ensure
    ENV["RAILS_ENV"] = saved
  end

  it "never lets an older schedule replace a newer one, unless forced" do
    old = { "cleanup" => { "every" => "1h", "class" => "TickJob" } }
    new = { "cleanup" => { "every" => "2h", "class" => "TickJob" },
            "digest" => { "cron" => "@daily", "class" => "TickJob" } }
    expect(Ferrokiq::Periodic::Store.publish(old)).to eq(:written)
    expect(Ferrokiq::Periodic::Store.publish(new)).to eq(:written)
    # A process still carrying the old schedule boots later (a restart during a rolling deploy).
    expect(Ferrokiq::Periodic::Store.publish(old)).to eq(:older)
    expect(Sidekiq.get_schedule.keys).to contain_exactly("cleanup", "digest")
    expect(Sidekiq.get_schedule("cleanup")["every"]).to eq("2h")
    expect(Ferrokiq::Periodic::Store.publish(old, force: true)).to eq(:written)
    expect(Sidekiq.get_schedule.keys).to eq(["cleanup"])
  end

  it "publishes sidekiq.yml's :scheduler: :schedule: at startup and pushes each tick once" do
    config = File.join(Dir.mktmpdir("periodic"), "sidekiq.yml")
    File.write(config, <<~YAML)
      :scheduler:
        :schedule:
          yaml_tick:
            cron: "* * * * * *"
            class: TickJob
            args: yaml
            include_metadata: true
            enabled: <%= 1 + 1 == 2 %>
    YAML
    start_server(jobs: PeriodicSpecSource::TICK_JOBS, args: ["-C", config])
    eventually { ticks("yaml").size >= 3 }
    expect(Sidekiq.get_schedule("yaml_tick")).to include("class" => "TickJob", "args" => ["yaml"])
    stamps = ticks("yaml")
    expect(stamps).to eq(stamps.uniq)
    expect(stamps).to all(satisfy { |stamp| stamp == stamp.floor })
  end

  it "pushes exactly one job per tick across three processes, one killed with -9 and restarted" do
    Sidekiq.public_send(:schedule=, { "cluster_tick" => every_second("cluster") })
    servers = Array.new(3) { start_server(jobs: PeriodicSpecSource::TICK_JOBS) }
    servers.each(&:wait_until_running)
    eventually { ticks("cluster").size >= 3 }
    holder = eventually { lease_holder }
    victim = servers.find { |server| holder.include?(":#{server.pid}:") }
    expect(victim).not_to be_nil
    victim.kill!
    before_restart = ticks("cluster").size
    # Another process takes the lease over and goes on ticking.
    eventually { lease_holder && lease_holder != holder && ticks("cluster").size >= before_restart + 3 }
    victim.start.wait_until_running
    after_restart = ticks("cluster").size
    eventually { ticks("cluster").size >= after_restart + 3 }
    Sidekiq.remove_schedule("cluster_tick")
    servers.each(&:stop)

    stamps = ticks("cluster")
    expect(stamps).to eq(stamps.uniq)
    expect(stamps).to eq(stamps.sort)
    pushed = Sidekiq.redis { |conn| conn.zrange("sidekiq-scheduler:pushed:cluster_tick", 0, -1) }
    expect(stamps.map { |stamp| stamp.to_i.to_s } - pushed).to be_empty
  end

  it "pushes a tick missed while every process was down once, not every missed tick" do
    Sidekiq.public_send(:schedule=, { "missed_tick" => every_second("missed") })
    now = Time.now.to_i
    # Registered 20 seconds ago, last pushed 15 seconds ago: 14 ticks went by with no process.
    Sidekiq.redis do |conn|
      conn.hset("ferrokiq:periodic:since", "missed_tick", now - 20)
      conn.hset("ferrokiq:periodic:last", "missed_tick", now - 15)
    end
    started = Time.now.to_f
    start_server(jobs: PeriodicSpecSource::TICK_JOBS)
    eventually { ticks("missed").size >= 3 }
    Sidekiq.remove_schedule("missed_tick")
    stamps = ticks("missed")
    expect(stamps).to eq(stamps.uniq)
    expect(stamps.count { |stamp| stamp < started.floor }).to be <= 1
    expect(stamps.min).to be > now - 15
  end

  it "fires `at` once and honours a Web UI toggle" do
    at = Time.now.to_i + 2
    Sidekiq.public_send(:schedule=, {
                          "once" => { "at" => Time.at(at).utc.strftime("%Y-%m-%d %H:%M:%S +0000"), "class" => "TickJob",
                                      "args" => ["once"], "include_metadata" => true },
                          "switched_off" => every_second("off")
                        })
    SidekiqScheduler::Scheduler.instance.toggle_job_enabled("switched_off")
    start_server(jobs: PeriodicSpecSource::TICK_JOBS)
    eventually { ticks("once").any? }
    Sidekiq.public_send(:schedule=, { "probe" => every_second("probe") })
    eventually { ticks("probe").size >= 2 }
    expect(ticks("once")).to eq([at.to_f])
    expect(ticks("off")).to be_empty
  end

  it "ticks in a process whose client middleware leaves due jobs to Ruby's poller" do
    with_middleware = <<~RUBY
      #{PeriodicSpecSource::TICK_JOBS}
      Sidekiq.configure_server do |config|
        config.client_middleware { |chain| chain.add(Class.new { def call(*) = yield }) }
      end
    RUBY
    Sidekiq.public_send(:schedule=, { "middleware_tick" => every_second("middleware") })
    start_server(jobs: with_middleware)
    eventually { ticks("middleware").size >= 2 }
    stamps = ticks("middleware")
    expect(stamps).to eq(stamps.uniq)
  end

  it "loads config/sidekiq_scheduler.yml from an on(:startup) block, as the configuration guide does" do
    app = Dir.mktmpdir("periodic-app")
    File.write(File.join(app, "sidekiq_scheduler.yml"), PeriodicSpecSource::GUIDE_SCHEDULE)
    initializer = <<~RUBY
      #{PeriodicSpecSource::TICK_JOBS}
      require "yaml"
      Sidekiq.configure_server do |config|
        config.on(:startup) do
          Sidekiq.schedule = YAML.load_file(#{File.join(app, "sidekiq_scheduler.yml").inspect})
          SidekiqScheduler::Scheduler.instance.reload_schedule!
        end
      end
    RUBY
    start_server(jobs: initializer)
    eventually { ticks("guide").size >= 3 }
    stamps = ticks("guide")
    expect(stamps).to eq(stamps.uniq)
    expect(stamps.each_cons(2).map { |earlier, later| later - earlier }).to all(be >= 1)
    expect(ticks("paused")).to be_empty
    expect(Sidekiq.redis { |conn| conn.hget("sidekiq-scheduler:last_times", "guide_tick") })
      .to match(/\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\z/)
  end
end
