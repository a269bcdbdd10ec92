# frozen_string_literal: true

require "date"
require "ferrokiq/periodic/overview"
require_relative "../support/periodic_tick_jobs"

# fugit's `%`, `~` and natural-language crons and rufus' `first_at` / `last_at` / `times`, ticked
# by the Rust scheduler of real `exe/sidekiq` processes. Their arithmetic (fugit's and rufus'
# own vectors) is covered by the Rust unit tests in core/src/periodic/cron.rs,
# core/src/periodic/rule.rs and core/src/periodic/nat.rs.
RSpec.describe "Periodic jobs: fugit's extensions and rufus' options" do # rubocop:disable Metrics/BlockLength
  before { eval(PeriodicTickJobs::SOURCE, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  after do
    Sidekiq.instance_variable_set(:@schedule, nil)
    Sidekiq::Cron.reset!
  end

  def ticks(label)
    redis_json_list("ticks").select { |name, _| name == label }.map(&:last)
  end

  def entry(cron, label)
    { "cron" => cron, "class" => "TickJob", "args" => [label], "include_metadata" => true }
  end

  def every_second(label, options)
    { "every" => ["1s", options], "class" => "TickJob", "args" => [label], "include_metadata" => true }
  end

  # fugit's reference week (et-orbi's rweek): whole weeks since Monday 2018-12-31.
  def reference_week(date)
    (date - Date.new(2018, 12, 31)).to_i / 7
  end

  def next_run(name)
    rows = Ferrokiq::Periodic::Overview.rows.select { |row| row.name == name }
    Ferrokiq::Periodic::Overview.add_next_runs(rows)
    rows.first.next_run
  end

  it "ticks a `%` cron only in its weeks, a `~` cron on the value every process derives, and natural language" do
    today = Time.now.utc.to_date
    week = reference_week(today)
    Sidekiq.public_send(:schedule=, {
                          "this_week" => entry("* * * * * #{today.wday}%2+#{week % 2}", "this_week"),
                          "other_week" => entry("* * * * * #{today.wday}%2+#{(week + 1) % 2}", "other_week"),
                          "random" => entry("~/3 * * * * *", "random"),
                          "spoken" => entry("every 2 seconds", "spoken")
                        })
    Sidekiq::Cron::Job.create(name: "cron_spoken", cron: "every second", class: "TickJob", args: ["cron_spoken"])
    # The Ruby API computes the `~` pick as the server will, before any server runs.
    predicted = next_run("random").to_i % 3
    start_server(jobs: PeriodicTickJobs::SOURCE)
    eventually do
      ticks("this_week").size >= 3 && ticks("random").size >= 3 && ticks("spoken").size >= 2 &&
        ticks("cron_spoken").size >= 2
    end
    expect(ticks("other_week")).to be_empty
    expect(ticks("random").map { |stamp| stamp.to_i % 3 }.uniq).to eq([predicted])
    expect(ticks("spoken").map { |stamp| stamp.to_i % 2 }.uniq).to eq([0])
    expect(ticks("this_week")).to eq(ticks("this_week").uniq)
  end

  it "shows a natural-language cron's next run and refuses lines it does not understand, naming them" do
    Sidekiq.set_schedule("at_noon", entry("every day at noon", "noon"))
    noon = next_run("at_noon").utc
    expect([noon.hour, noon.min, noon.sec]).to eq([12, 0, 0])
    expect(noon - Time.now).to be_between(0, 86_400)

    Sidekiq.set_schedule("moon", entry("every blue moon", "moon"))
    rows = Ferrokiq::Periodic::Overview.rows.select { |row| row.name == "moon" }
    Ferrokiq::Periodic::Overview.add_next_runs(rows)
    expect(rows.first.problem).to match(/every blue moon.*"blue"/)

    job = Sidekiq::Cron::Job.new(name: "moon", cron: "every blue moon", class: "TickJob")
    expect(job.save).to be(false)
    expect(job.errors).to eq([%('cron' -> "every blue moon": #{rows.first.problem})])
    expect(Sidekiq::Cron::Job.find("moon")).to be_nil
  end

  it "runs the first of several crons in :single mode and refuses them in :strict mode" do
    twice = { name: "twice", cron: "every day at 18:15 and 20:45", class: "TickJob" }
    expect(Sidekiq::Cron::Job.create(twice)).to be_a(Sidekiq::Cron::Job)
    expect(Sidekiq::Cron::Job.find("twice")).not_to be_nil
    expect(next_run("cron_job:default:twice").utc.strftime("%H:%M")).to eq("18:15")

    Sidekiq::Cron.configure { |config| config.natural_cron_parsing_mode = :strict }
    strict = Sidekiq::Cron::Job.new(twice.merge(name: "strict"))
    expect(strict.save).to be(false)
    expect(strict.errors.first).to match(/multiple crons/)
    expect(Sidekiq::Cron::Job.new(twice.merge(name: "one", cron: "every day at 18:15")).save).to be(true)
    expect { Sidekiq::Cron.configure { |config| config.natural_cron_parsing_mode = :loose } }
      .to raise_error(ArgumentError, /:loose/)
  end

  it "pushes an `every` entry `times` times across the cluster, and only between first_at and last_at" do
    first_at = Time.now.to_i + 4
    last_at = first_at + 3
    stamp = ->(epoch) { Time.at(epoch).utc.strftime("%Y-%m-%d %H:%M:%S +0000") }
    Sidekiq.public_send(:schedule=, {
                          "thrice" => every_second("thrice", "first_in" => "0s", "times" => 3),
                          "window" => every_second("window", "first_at" => stamp.call(first_at),
                                                             "last_at" => stamp.call(last_at)),
                          "probe" => entry("* * * * * *", "probe")
                        })
    servers = Array.new(2) { start_server(jobs: PeriodicTickJobs::SOURCE) }
    servers.each(&:wait_until_running)
    # Well after the window closed and the third run: nothing more comes.
    eventually { ticks("probe").any? { |tick| tick >= last_at + 3 } && ticks("thrice").size >= 3 }
    expect(ticks("thrice").size).to eq(3)
    expect(ticks("thrice")).to eq(ticks("thrice").uniq)
    expect(Sidekiq.redis { |conn| conn.hget("ferrokiq:periodic:runs", "thrice") }).to eq("3")
    expect(ticks("window")).not_to be_empty
    expect(ticks("window")).to all(be >= first_at)
    expect(ticks("window")).to all(be < last_at)
    expect(next_run("thrice")).to be_nil
    expect(next_run("window")).to be_nil

    # A changed entry counts afresh.
    Sidekiq.set_schedule("thrice", every_second("thrice", "first_in" => "0s", "times" => 1))
    expect(Sidekiq.redis { |conn| conn.hget("ferrokiq:periodic:runs", "thrice") }).to be_nil
    eventually { ticks("thrice").size == 4 }
  end
end
