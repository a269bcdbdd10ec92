# frozen_string_literal: true

require "tmpdir"

module PeriodicCronNamespaceSpecSource
  # Records each run's arguments, as the job received them.
  STAMP_JOBS = <<~RUBY
    class StampJob
      include Sidekiq::Job
      def perform(*args)
        Sidekiq.redis { |conn| conn.rpush("stamps", Sidekiq.dump_json(args)) }
      end
    end
  RUBY

  # The same job, behind client middleware: its ticks reach Redis through Ruby's client.
  STAMP_JOBS_WITH_MIDDLEWARE = <<~RUBY.freeze
    #{STAMP_JOBS}
    class StampMiddleware
      def call(_class, job, _queue, _pool)
        Sidekiq.redis { |conn| conn.rpush("client_saw", Sidekiq.dump_json(job["args"])) }
        yield
      end
    end
    Sidekiq.configure_server do |config|
      config.client_middleware { |chain| chain.add(StampMiddleware) }
    end
  RUBY
end

# sidekiq-cron's namespaces and `date_as_argument`, built in: the API against a real
# redis-server, and the ticks of a real `exe/sidekiq` process.
RSpec.describe "Periodic jobs: sidekiq-cron's namespaces and date_as_argument" do # rubocop:disable Metrics/BlockLength
  before do
    require "sidekiq-cron"
    eval(PeriodicCronNamespaceSpecSource::STAMP_JOBS, TOPLEVEL_BINDING) # rubocop:disable Security/Eval
  end

  after { Sidekiq::Cron.reset! }

  def redis(*command)
    Sidekiq.redis { |conn| conn.call(*command) }
  end

  def with_namespaces(*names)
    Sidekiq::Cron.configure { |config| config.available_namespaces = names }
  end

  def every_second(name, label, **extra)
    { "name" => name, "cron" => "* * * * * *", "class" => "StampJob", "args" => [label] }.merge(extra)
  end

  # Each run's args, of the runs whose first argument is +label+.
  def stamps(label)
    redis_json_list("stamps").select { |args| args.first == label }
  end

  it "keeps the same name in two namespaces as two jobs, in sidekiq-cron's keys" do
    with_namespaces("billing")
    Sidekiq::Cron::Job.create(name: "report", cron: "0 3 * * *", class: "StampJob", args: ["d"])
    Sidekiq::Cron::Job.create(name: "report", cron: "0 4 * * *", class: "StampJob", args: ["b"], namespace: "billing")
    expect(redis("SMEMBERS", "cron_jobs:billing")).to eq(["cron_job:billing:report"])
    expect(redis("HGET", "cron_job:billing:report", "namespace")).to eq("billing")
    expect(Sidekiq.get_schedule.keys).to contain_exactly("cron_job:default:report", "cron_job:billing:report")

    expect(Sidekiq::Cron::Job.find("report")).to have_attributes(cron: "0 3 * * *", namespace: "default")
    expect(Sidekiq::Cron::Job.find("report", "billing")).to have_attributes(cron: "0 4 * * *", args: ["b"])
    expect(Sidekiq::Cron::Job.find(name: "report", namespace: "billing").cron).to eq("0 4 * * *")
    expect(Sidekiq::Cron::Job.all.map(&:namespace)).to eq(["default"])
    expect(Sidekiq::Cron::Job.all("billing").map(&:args)).to eq([["b"]])
    expect(Sidekiq::Cron::Job.all("*").map(&:namespace)).to contain_exactly("default", "billing")
    expect([Sidekiq::Cron::Job.count, Sidekiq::Cron::Job.count("billing"), Sidekiq::Cron::Job.count("*")])
      .to eq([1, 1, 2])
    expect(Sidekiq::Cron::Namespace.all_with_count).to contain_exactly({ name: "default", count: 1 },
                                                                       { name: "billing", count: 1 })

    Sidekiq::Cron::Job.find("report", "billing").disable!
    expect(Sidekiq::Cron::Job.find("report")).to be_enabled
    expect(Ferrokiq::Periodic::Store.enabled?("cron_job:billing:report")).to be(false)

    expect(Sidekiq::Cron::Job.destroy("report", "billing")).to be(true)
    expect(Sidekiq::Cron::Job.find("report", "billing")).to be_nil
    expect(Sidekiq::Cron::Job.find("report")).not_to be_nil
    expect(Sidekiq.get_schedule.keys).to eq(["cron_job:default:report"])
  end

  it "puts a namespace outside available_namespaces in the default one and refuses '*' and ':'" do
    Sidekiq::Cron::Job.create(every_second("stray", "s", "namespace" => "elsewhere"))
    expect(Sidekiq::Cron::Job.find("stray").namespace).to eq("default")

    Sidekiq::Cron.configure { |config| config.available_namespaces = :auto }
    Sidekiq::Cron::Job.create(every_second("kept", "k", "namespace" => "elsewhere"))
    expect(Sidekiq::Cron::Namespace.all).to contain_exactly("default", "elsewhere")
    expect(Sidekiq::Cron::Job.find("kept", "elsewhere")).not_to be_nil

    expect(Sidekiq::Cron::Job.new(every_second("x", "x", "namespace" => "*"))).not_to be_valid
    colliding = Sidekiq::Cron::Job.new(every_second("c", "x", "namespace" => "a:b"))
    expect(colliding.valid?).to be(false)
    expect(colliding.errors).to eq(["'namespace' cannot contain ':'"])

    # Back to an explicit list: the job stays where its keys are, and goes from there.
    with_namespaces
    expect(Sidekiq::Cron::Job.find("kept", "elsewhere").namespace).to eq("elsewhere")
    expect(Sidekiq::Cron::Job.destroy("kept", "elsewhere")).to be(true)
    expect(Sidekiq.get_schedule.keys).to eq(["cron_job:default:stray"])
  end

  it "uses default_namespace, and destroy_all! empties one namespace" do
    Sidekiq::Cron.configure do |config|
      config.default_namespace = "main"
      config.available_namespaces = %w[other]
    end
    Sidekiq::Cron::Job.create(every_second("a", "a"))
    Sidekiq::Cron::Job.create(every_second("b", "b", "namespace" => "other"))
    expect(redis("SMEMBERS", "cron_jobs:main")).to eq(["cron_job:main:a"])
    expect(Sidekiq::Cron::Namespace.all).to contain_exactly("main", "other")

    Sidekiq::Cron::Job.destroy_all!
    expect(Sidekiq::Cron::Job.all("*").map(&:key)).to eq(["cron_job:other:b"])
    Sidekiq::Cron::Job.destroy_all!("*")
    expect(Sidekiq::Cron::Job.count("*")).to eq(0)
    expect(Sidekiq.get_schedule).to be_empty
  end

  it "load_from_hash! deletes only what its source no longer lists, namespace included" do
    with_namespaces("billing")
    listed = { "a" => every_second(nil, "a").except("name"),
               "moved" => every_second(nil, "m").except("name"),
               "billed" => every_second(nil, "b", "namespace" => "billing").except("name") }
    expect(Sidekiq::Cron::Job.load_from_hash!(listed, source: "schedule")).to eq([])
    Sidekiq::Cron::Job.create(every_second("made_in_code", "code", "namespace" => "billing"))
    expect(Sidekiq::Cron::Job.all("*").map(&:key))
      .to contain_exactly("cron_job:default:a", "cron_job:default:moved", "cron_job:billing:billed",
                          "cron_job:billing:made_in_code")

    # "moved" changes namespace; "a" leaves the file.
    Sidekiq::Cron::Job.load_from_hash!({ "moved" => every_second(nil, "m", "namespace" => "billing").except("name"),
                                         "billed" => every_second(nil, "b", "namespace" => "billing").except("name") },
                                       source: "schedule")
    expect(Sidekiq::Cron::Job.all("*").map(&:key))
      .to contain_exactly("cron_job:billing:moved", "cron_job:billing:billed", "cron_job:billing:made_in_code")

    # Options apply to every job listed, as in sidekiq-cron.
    Sidekiq::Cron::Job.load_from_array([every_second("bulk", "x")], namespace: "billing")
    expect(Sidekiq::Cron::Job.find("bulk", "billing")).not_to be_nil
  end

  it "stores date_as_argument as sidekiq-cron does and appends the push time on enque!" do
    job = Sidekiq::Cron::Job.create(every_second("stamped", "e", "date_as_argument" => "yes"))
    expect(redis("HGET", "cron_job:default:stamped", "date_as_argument")).to eq("1")
    expect(Sidekiq::Cron::Job.find("stamped")).to be_date_as_argument
    expect(Sidekiq.get_schedule("cron_job:default:stamped")).to include("date_as_argument" => true)
    Sidekiq::Cron::Job.create(every_second("plain", "p"))
    expect(redis("HGET", "cron_job:default:plain", "date_as_argument")).to eq("0")

    at = Time.at(1_764_460_800.5)
    job.enque!(at)
    Sidekiq::Cron::Job.find("plain").enque!(at)
    pushed = redis("LRANGE", "queue:default", 0, -1).map { |json| JSON.parse(json) }
    expect(pushed.map { |item| item["args"] }).to contain_exactly(["e", 1_764_460_800.5], ["p"])
    expect(pushed.map(&:keys).flatten).not_to include("date_as_argument")
  end

  it "ticks both namespaces' same-named jobs, each tick once, with the tick as a Float argument" do
    with_namespaces("billing")
    Sidekiq::Cron::Job.create(every_second("stamp", "default", "date_as_argument" => true))
    dir = Dir.mktmpdir("periodic-cron-namespace")
    Dir.mkdir(File.join(dir, "config"))
    File.write(File.join(dir, "config", "schedule.yml"), <<~YAML)
      stamp:
        cron: "* * * * * *"
        class: StampJob
        args: [billing]
        namespace: billing
        date_as_argument: true
    YAML
    Ferrokiq::Periodic.load_cron_schedule_file(dir)
    expect(Sidekiq::Cron::Job.find("stamp", "billing")).to have_attributes(source: "schedule", date_as_argument: true)
    start_server(jobs: PeriodicCronNamespaceSpecSource::STAMP_JOBS)
    eventually { stamps("default").size >= 3 && stamps("billing").size >= 3 }

    %w[default billing].each do |label|
      dates = stamps(label).map(&:last)
      expect(dates).to all(be_a(Float))
      # Whole seconds: the tick a 6-field cron stands for, not the moment of the push.
      expect(dates.map { |date| date % 1 }).to all(eq(0.0))
      expect(dates.uniq.size).to eq(dates.size)
    end
  end

  it "appends the tick when Ruby's client middleware pushes the tick (the hand-off)" do
    Sidekiq::Cron::Job.create(every_second("stamp", "through", "date_as_argument" => true))
    start_server(jobs: PeriodicCronNamespaceSpecSource::STAMP_JOBS_WITH_MIDDLEWARE)
    eventually { stamps("through").size >= 2 }

    dates = stamps("through").map(&:last)
    expect(dates).to all(be_a(Float))
    expect(dates.map { |date| date % 1 }).to all(eq(0.0))
    expect(stamps("through").map(&:size)).to all(eq(2))
    # The middleware saw the args with the date already there: Ruby pushed what the engine built.
    expect(redis_json_list("client_saw").map(&:last)).to include(*dates)
  end
end
