# frozen_string_literal: true

require "tmpdir"

module PeriodicCronSpecSource
  # Records each run's label.
  TICK_JOBS = <<~RUBY
    class TickJob
      include Sidekiq::Job
      def perform(label, *)
        Sidekiq.redis { |conn| conn.rpush("ticks", Sidekiq.dump_json([label, nil])) }
      end
    end
  RUBY
end

# sidekiq-cron's API, built in: its jobs are ticked by the same Rust scheduler of a real
# `exe/sidekiq` process as sidekiq-scheduler's entries.
RSpec.describe "Periodic jobs through sidekiq-cron's API" do # rubocop:disable Metrics/BlockLength
  before { eval(PeriodicCronSpecSource::TICK_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def ticks(label)
    redis_json_list("ticks").select { |name, _| name == label }
  end

  def every_second(name, label, **extra)
    { "name" => name, "cron" => "* * * * * *", "class" => "TickJob", "args" => [label] }.merge(extra)
  end

  it "creates, finds, lists, disables and destroys jobs in sidekiq-cron's keys" do
    require "sidekiq-cron"
    job = Sidekiq::Cron::Job.create(name: "nightly", cron: "0 3 * * *", class: "TickJob", args: ["n"], queue: "low")
    expect(Sidekiq.redis { |conn| conn.smembers("cron_jobs:default") }).to eq(["cron_job:default:nightly"])
    expect(Sidekiq.redis { |conn| conn.hget("cron_job:default:nightly", "klass") }).to eq("TickJob")
    expect(Sidekiq::Cron::Job.find("nightly")).to have_attributes(cron: "0 3 * * *", args: ["n"], queue: "low")
    expect(Sidekiq.get_schedule("cron_job:default:nightly")).to include("cron" => "0 3 * * *", "queue" => "low")

    job.disable!
    expect(Sidekiq::Cron::Job.find("nightly")).to be_disabled
    # Saved again without a status (a schedule file reloaded): stays disabled.
    Sidekiq::Cron::Job.create(name: "nightly", cron: "0 4 * * *", class: "TickJob")
    expect(Sidekiq::Cron::Job.find("nightly")).to be_disabled
    expect(SidekiqScheduler::Scheduler.instance.job_enabled?("cron_job:default:nightly")).to be(false)

    errors = Sidekiq::Cron::Job.load_from_array([{ "name" => "broken", "class" => "TickJob" }])
    expect(errors).to eq(["'cron' must be set"])
    expect(Sidekiq::Cron::Job.all.map(&:name)).to eq(["nightly"])
    expect(Sidekiq::Cron::Job.destroy("nightly")).to be(true)
    expect(Sidekiq::Cron::Job.count).to eq(0)
    expect(Sidekiq.get_schedule).to be_empty
  end

  it "keeps cron jobs when a sidekiq-scheduler schedule is published, and load_from_hash! drops unlisted ones" do
    Sidekiq::Cron::Job.load_from_hash!({ "a" => every_second(nil, "a").except("name"),
                                         "b" => every_second(nil, "b").except("name") }, source: "schedule")
    Sidekiq::Cron::Job.create(every_second("made_in_code", "code"))
    Ferrokiq::Periodic::Store.publish({ "plain" => { "every" => "1h", "class" => "TickJob" } })
    expect(Sidekiq.get_schedule.keys).to contain_exactly("plain", "cron_job:default:a", "cron_job:default:b",
                                                         "cron_job:default:made_in_code")
    Sidekiq::Cron::Job.load_from_hash!({ "a" => every_second(nil, "a").except("name") }, source: "schedule")
    expect(Sidekiq::Cron::Job.all.map(&:name)).to contain_exactly("a", "made_in_code")
  end

  it "ticks cron jobs from config/schedule.yml once per second, skips disabled ones, and enqueues now" do
    dir = Dir.mktmpdir("periodic-cron")
    Dir.mkdir(File.join(dir, "config"))
    File.write(File.join(dir, "config", "schedule.yml"), <<~YAML)
      from_file:
        cron: "* * * * * *"
        class: TickJob
        args: [file]
      switched_off:
        cron: "* * * * * *"
        class: TickJob
        args: [paused]
        status: <%= "disabled" %>
    YAML
    Ferrokiq::Periodic.load_cron_schedule_file(dir)
    start_server(jobs: PeriodicCronSpecSource::TICK_JOBS)
    eventually { ticks("file").size >= 3 }
    expect(ticks("paused")).to be_empty
    Sidekiq::Cron::Job.find("switched_off").enque!
    eventually { ticks("paused").size == 1 }
    expect(Sidekiq::Cron::Job.find("switched_off").last_enqueue_time).to be_a(Time)
  end
end
