# frozen_string_literal: true

require "sidekiq/api"
require "sidekiq/deploy"
require "sidekiq/processor"
require_relative "../support/fake_engine"

# Execution metrics end to end: a real server runs jobs and leaves Sidekiq 7's `j|…` counts and
# histogram keys in Redis (docs/wire-format.md §14), which Sidekiq::Metrics::Query reads back.
module ExecutionMetricsSpec
  JOBS = <<~RUBY
    class QuickJob
      include Sidekiq::Job
      def perform(*); end
    end

    class BrokenJob
      include Sidekiq::Job
      sidekiq_options retry: false
      def perform
        raise "broken"
      end
    end

    # Slows every job down in the server middleware, which Sidekiq 7 times along with perform.
    class SlowMiddleware
      include Sidekiq::ServerMiddleware
      def call(_job, payload, _queue)
        sleep 0.06 if payload["args"] == ["slow"]
        yield
      end
    end

    Sidekiq.configure_server do |config|
      config.server_middleware { |chain| chain.add SlowMiddleware }
    end
  RUBY
end

RSpec.describe "execution metrics" do
  before { eval(ExecutionMetricsSpec::JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def redis(&block)
    Sidekiq.redis(&block)
  end

  # The minutes (UTC) the server may have flushed in, between two times.
  def minutes(from, to)
    [from, to].map { |t| Time.at(t.to_i - (t.to_i % 60)).utc }.uniq
  end

  # Runs the jobs on a real server and stops it (the last flush writes the metrics).
  def run_jobs
    started = Time.now
    3.times { QuickJob.perform_async }
    QuickJob.set(queue: "critical").perform_async("slow")
    2.times { BrokenJob.perform_async }
    Sidekiq::Client.push("class" => "QuickJob", "wrapped" => "MailerJob", "args" => [], "queue" => "default")
    server = start_server(jobs: ExecutionMetricsSpec::JOBS, args: %w[-c 2 -q critical -q default])
    # Empty queues mean only that the jobs were fetched; an empty in-flight set, that each one ran
    # and was acknowledged (a server stopped earlier puts unstarted jobs back).
    eventually do
      redis { |conn| conn.llen("queue:default") + conn.llen("queue:critical") }.zero? &&
        Sidekiq::InFlightSet.new.size.zero?
    end
    expect(server.stop).to be_success
    minutes(started, Time.now)
  end

  # The counts hash of the flush: its key, name, fields and TTL. Returns it and its minute.
  def expect_counts(window)
    counts_key = redis { |conn| conn.keys("j|*") }.first
    expect(window.map { |t| "j|#{t.strftime("%Y%m%d")}|#{t.hour}:#{t.min}" }).to include(counts_key)
    counts = redis { |conn| conn.hgetall(counts_key) }
    expect(counts.keys).to match_array(%w[QuickJob|ms QuickJob|p BrokenJob|p BrokenJob|f MailerJob|ms MailerJob|p])
    expect(counts.values_at("QuickJob|p", "BrokenJob|p", "BrokenJob|f", "MailerJob|p")).to eq(%w[4 2 2 1])
    expect(Integer(counts["QuickJob|ms"])).to be >= 60 # the middleware's sleep is part of it
    expect(redis { |conn| conn.ttl(counts_key) }).to be_between(1, 8 * 3600)
    [counts, window.find { |t| counts_key.end_with?("|#{t.hour}:#{t.min}") }]
  end

  # The class's histogram of that minute: its name, TTL and big-endian u16 counters.
  def expect_histogram(minute)
    hist_key = "QuickJob-#{minute.strftime("%d-%H")}:#{minute.min}"
    expect(redis { |conn| conn.keys("*-*-*:*") }).to contain_exactly(hist_key, hist_key.sub("QuickJob", "MailerJob"))
    counters = redis { |conn| conn.bitfield_ro(hist_key, *Sidekiq::Metrics::Histogram::FETCH) }
    expect(counters.sum).to eq(4)
    raw = redis { |conn| conn.get(hist_key) }.b
    expect(raw.bytesize).to be_even
    expect(raw.unpack("n*")).to eq(counters.first(raw.bytesize / 2))
    expect(redis { |conn| conn.ttl(hist_key) }).to be_between(1, 8 * 3600)
    counters
  end

  it "leaves Sidekiq 7's keys, fields, TTLs and histogram layout, read back by the Query API" do
    counts, minute = expect_counts(run_jobs)
    counters = expect_histogram(minute)

    top = Sidekiq::Metrics::Query.new.top_jobs
    expect(top.buckets.size).to eq(60)
    expect(top.job_results.keys).to match_array(%w[QuickJob BrokenJob MailerJob])
    expect(top.job_results["BrokenJob"].totals).to include("p" => 2, "f" => 2)
    expect(top.job_results["QuickJob"].series["p"][minute.strftime("%H:%M")]).to eq(4)
    expect(Sidekiq::Metrics::Query.new.top_jobs(class_filter: /mail/i).job_results.keys).to eq(%w[MailerJob])

    quick = Sidekiq::Metrics::Query.new.for_job("QuickJob", minutes: 120).job_results["QuickJob"]
    expect(quick.hist.size).to eq(120)
    expect(quick.hist[minute.strftime("%H:%M")]).to eq(counters.reverse)
    expect(quick.total_avg).to eq(Integer(counts["QuickJob|ms"]) / 4.0)
  end

  it "reads deploy marks within the window, one per label and minute" do
    deploy = Sidekiq::Deploy.new(Sidekiq.redis_pool)
    at = Time.now.utc - 600
    deploy.mark!(at:, label: "v1 <b>")
    deploy.mark!(at: at + 1, label: "v1 <b>")
    deploy.mark!(at: Time.now.utc - (3 * 3600), label: "long ago")
    stamp = Time.utc(at.year, at.month, at.day, at.hour, at.min).iso8601
    expect(deploy.fetch(at.to_date)).to include(stamp => "v1 <b>")
    expect(redis { |conn| conn.ttl("#{at.strftime("%Y%m%d")}-marks") }).to be > 89 * 86_400
    marks = Sidekiq::Metrics::Query.new.top_jobs.marks
    expect(marks.map(&:label)).to eq(["v1 <b>"])
    expect(marks.first.bucket).to eq(at.strftime("%H:%M"))
  end

  describe "what the processor hands the engine" do
    let(:config) { Sidekiq::Config.new.tap { |c| c.logger = Logger.new(File::NULL) } }

    def run(*payloads)
      engine = FakeEngine.new(payloads.map { |p| ["default", JSON.generate(p)] })
      Sidekiq::Processor.new(config, engine, Sidekiq::JobLogger.new(config), Sidekiq::JobRetry.new(config, engine))
                        .start.thread.join(10)
      engine.executions
    end

    before do
      stub_const("PlainJob", Class.new { include Sidekiq::Job; def perform(*); end }) # rubocop:disable Style/Semicolon
      stub_const("SkipJob", Class.new { include Sidekiq::Job; def perform = raise(Sidekiq::JobRetry::Skip) }) # rubocop:disable Style/Semicolon
      stub_const("FailingJob", Class.new { include Sidekiq::Job; def perform = raise("no") }) # rubocop:disable Style/Semicolon
    end

    it "names the wrapped class, counts failures by error class and treats a skip as a success" do
      executions = run({ "class" => "PlainJob", "wrapped" => "Real::Job", "args" => [], "jid" => "a" },
                       { "class" => "SkipJob", "args" => [], "jid" => "b" },
                       { "class" => "FailingJob", "args" => [], "jid" => "c", "retry" => false },
                       { "class" => "Missing", "args" => [], "jid" => "d", "retry" => false })
      expect(executions.map { |klass, queue, _, failed| [klass, queue, failed] })
        .to eq([["Real::Job", "default", false], ["SkipJob", "default", false],
                ["FailingJob", "default", "RuntimeError"]])
      expect(executions.map { |e| e[2] }).to all(be_a(Integer))
    end

    it "records nothing with FERROKIQ_EXECUTION_METRICS=off" do
      stub_const("ENV", ENV.to_h.merge("FERROKIQ_EXECUTION_METRICS" => "off"))
      expect(run({ "class" => "PlainJob", "args" => [], "jid" => "a" })).to be_empty
    end
  end
end
