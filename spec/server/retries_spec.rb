# frozen_string_literal: true

require "base64"
require "zlib"

# Failures in a real server process: retry fields and delays, exhaustion, death handlers.
RSpec.describe "Retries and death" do
  JOBS_WITH_FAILURES = <<~RUBY
    Sidekiq.configure_server do |config|
      config.death_handlers << ->(job, ex) {
        Sidekiq.redis { |conn| conn.rpush("deaths", Sidekiq.dump_json([job["class"], ex.class.name, job["jid"]])) }
      }
    end

    class FailingJob
      include Sidekiq::Job
      sidekiq_options retry: 3, backtrace: 2, retry_queue: "retries"
      def perform(*)
        raise ArgumentError, "boom é"
      end
    end

    class NoRetryJob
      include Sidekiq::Job
      sidekiq_options retry: 0
      sidekiq_retries_exhausted { |job, ex| Sidekiq.redis { |c| c.rpush("exhausted", job["jid"] + ":" + ex.message) } }
      def perform
        raise "no retries"
      end
    end

    class NeverRetryJob
      include Sidekiq::Job
      sidekiq_options retry: false
      def perform
        raise "gone"
      end
    end

    class NotDeadJob
      include Sidekiq::Job
      sidekiq_options retry: 0, dead: false
      def perform
        raise "not dead"
      end
    end

    class CustomDelayJob
      include Sidekiq::Job
      sidekiq_retry_in { |count, ex, job| job["args"].first == "kill" ? :kill : 3600 }
      def perform(*)
        raise "custom"
      end
    end

    class WindowJob
      include Sidekiq::Job
      def perform
        raise "outside the window"
      end
    end

    class OkJob
      include Sidekiq::Job
      def perform
        Sidekiq.redis { |c| c.rpush("ok", jid) }
      end
    end
  RUBY

  before { eval(JOBS_WITH_FAILURES, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  def retries
    Sidekiq.redis { |conn| conn.zrange("retry", 0, -1, "WITHSCORES") }.map { |json, score| [JSON.parse(json), score] }
  end

  def dead
    Sidekiq.redis { |conn| conn.zrange("dead", 0, -1) }
  end

  def deaths
    redis_json_list("deaths")
  end

  it "schedules a retry with Sidekiq's fields, delay and compressed backtrace" do
    jid = FailingJob.perform_async(1)
    start_server(jobs: JOBS_WITH_FAILURES)
    (job, score), = eventually { retries.any? && retries }
    expect(job).to include("jid" => jid, "queue" => "retries", "retry_count" => 0, "error_class" => "ArgumentError",
                           "error_message" => "boom é", "retry" => 3)
    expect(job["failed_at"]).to be_a(Float)
    expect(score - job["failed_at"]).to be_between(15, 15 + 9 + 1)
    lines = JSON.parse(Zlib::Inflate.inflate(Base64.strict_decode64(job["error_backtrace"])))
    expect(lines.size).to eq(2)
    expect(lines.first).to include("jobs.rb")
    expect(Sidekiq.redis { |conn| conn.get("stat:failed") }.to_i).to be <= 1
  end

  it "sends retry: 0 jobs to the dead set after the exhausted hook, then to the death handlers" do
    jid = NoRetryJob.perform_async
    start_server(jobs: JOBS_WITH_FAILURES)
    eventually { deaths.any? }
    expect(redis_list("exhausted")).to eq(["#{jid}:no retries"])
    expect(dead.map { |json| JSON.parse(json)["jid"] }).to eq([jid])
    expect(deaths).to eq([["NoRetryJob", "RuntimeError", jid]])
  end

  it "gives retry: false jobs to the death handlers only" do
    jid = NeverRetryJob.perform_async
    start_server(jobs: JOBS_WITH_FAILURES)
    eventually { deaths.any? }
    expect(deaths).to eq([["NeverRetryJob", "RuntimeError", jid]])
    expect(dead).to be_empty
    expect(retries).to be_empty
  end

  it "keeps dead: false jobs out of the dead set" do
    NotDeadJob.perform_async
    start_server(jobs: JOBS_WITH_FAILURES)
    eventually { deaths.any? }
    expect(dead).to be_empty
  end

  it "uses sidekiq_retry_in: a delay in seconds, or :kill" do
    delayed = CustomDelayJob.perform_async("later")
    killed = CustomDelayJob.perform_async("kill")
    start_server(jobs: JOBS_WITH_FAILURES)
    eventually { retries.any? && dead.any? }
    job, score = retries.first
    expect(job["jid"]).to eq(delayed)
    expect(score - job["failed_at"]).to be_between(3600, 3600 + 9 + 1)
    expect(JSON.parse(dead.first)["jid"]).to eq(killed)
  end

  it "gives up once retry_for has passed since the first failure" do
    stale = { "class" => "WindowJob", "args" => [], "queue" => "default", "retry" => true, "jid" => "b" * 24,
              "retry_for" => 60, "failed_at" => Time.now.to_f - 3600, "retry_count" => 2 }
    Sidekiq::Client.push(stale)
    # Sidekiq 8 writes failed_at as Integer milliseconds.
    Sidekiq::Client.push(stale.merge("jid" => "c" * 24, "failed_at" => ((Time.now.to_f - 3600) * 1000).to_i))
    fresh = Sidekiq::Client.push("class" => "WindowJob", "args" => [], "retry_for" => 3600)
    start_server(jobs: JOBS_WITH_FAILURES)
    eventually { dead.size == 2 && retries.any? }
    expect(dead.map { |json| JSON.parse(json).slice("jid", "retry_count") })
      .to contain_exactly({ "jid" => "b" * 24, "retry_count" => 3 }, { "jid" => "c" * 24, "retry_count" => 3 })
    expect(retries.first.first).to include("jid" => fresh, "retry_count" => 0)
  end

  it "honours max_retries and trims the dead set to dead_max_jobs like Sidekiq" do
    config = <<~RUBY
      Sidekiq.configure_server do |config|
        config[:max_retries] = 0
        config[:dead_max_jobs] = 3
      end
    RUBY
    jids = Array.new(5) { FailingJob.set(retry: true).perform_async }
    start_server(jobs: JOBS_WITH_FAILURES + config, args: %w[-c 1])
    eventually { deaths.size == 5 }
    # ZREMRANGEBYRANK dead 0 -3 keeps the newest 2, exactly as Sidekiq does.
    expect(dead.size).to eq(2)
    expect(jids).to include(*dead.map { |json| JSON.parse(json)["jid"] })
    expect(retries).to be_empty
  end

  it "retries unknown classes and dead-letters malformed JSON and JSON that is not an object, and keeps going" do
    Sidekiq::Client.push("class" => "NoSuchJob", "args" => [])
    not_jobs = ["{not json", "42", '["OkJob"]']
    Sidekiq.redis { |conn| not_jobs.each { |text| conn.lpush("queue:default", text) } }
    ok = OkJob.perform_async
    server = start_server(jobs: JOBS_WITH_FAILURES)
    eventually { redis_list("ok").any? && retries.any? && dead.size == 3 }
    expect(redis_list("ok")).to eq([ok])
    expect(retries.first.first).to include("class" => "NoSuchJob", "error_class" => "NameError")
    expect(dead).to match_array(not_jobs)
    # Released from the reliable fetch's working list too: nothing is delivered again.
    eventually { Sidekiq.redis { |conn| conn.keys("ferrokiq:working:*:default") }.all? { |key| redis_list(key).empty? } }
    expect(server.log).to include("a job must be a JSON object, got Integer: 42")
  end
end
