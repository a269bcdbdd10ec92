# frozen_string_literal: true

require "sidekiq/api"
require "zlib"

RSpec.describe Sidekiq::JobRecord do
  def record(fields)
    described_class.new(JSON.generate(fields), "default")
  end

  def active_job(wrapper, job_class, arguments)
    { "class" => wrapper, "wrapped" => job_class, "queue" => "default", "jid" => "f" * 24,
      "args" => [{ "job_class" => job_class, "job_id" => "uuid", "arguments" => arguments,
                   "executions" => 0, "enqueued_at" => "2024-01-01T00:00:00Z" }] }
  end

  it "reads the plain fields" do
    job = record("class" => "HardJob", "args" => [1, "x"], "jid" => "a" * 24, "bid" => "b1", "tags" => ["t"],
                 "queue" => "critical", "retry" => 3)
    expect([job.klass, job.args, job.jid, job.bid, job.tags, job["retry"]])
      .to eq(["HardJob", [1, "x"], "a" * 24, "b1", ["t"], 3])
    expect(job.display_class).to eq("HardJob")
    expect(job.display_args).to eq([1, "x"])
    expect(job.item).to include("class" => "HardJob")
    expect(job.value).to be_a(String)
    expect(job.queue).to eq("default")
    expect(described_class.new(job.value).queue).to eq("critical")
    expect(record({}).tags).to eq([])
  end

  describe "timestamps" do
    it "reads float seconds (Sidekiq 6.4 and 7)" do
      job = record("created_at" => 1_700_000_000.25, "enqueued_at" => 1_700_000_010.5,
                   "failed_at" => 1_700_000_020.0, "retried_at" => 1_700_000_030.75)
      expect(job.created_at).to eq(Time.at(1_700_000_000.25).utc)
      expect(job.enqueued_at).to eq(Time.at(1_700_000_010.5).utc)
      expect(job.failed_at).to eq(Time.at(1_700_000_020.0))
      expect(job.retried_at).to eq(Time.at(1_700_000_030.75))
      expect(job.enqueued_at.utc?).to be(true)
    end

    it "reads integer milliseconds (Sidekiq 8) exactly" do
      job = record("created_at" => 1_700_000_000_123, "enqueued_at" => 1_700_000_001_999)
      expect(job.created_at).to eq(Time.at(1_700_000_000, 123, :millisecond))
      expect(job.enqueued_at.usec).to eq(999_000)
      expect(job.enqueued_at.to_i).to eq(1_700_000_001)
    end

    it "falls back from created_at to enqueued_at to the epoch, and has no enqueued_at for scheduled jobs" do
      expect(record("enqueued_at" => 1_700_000_000.5).created_at.to_f).to eq(1_700_000_000.5)
      expect(record({}).created_at).to eq(Time.at(0).utc)
      expect(record({}).enqueued_at).to be_nil
    end

    it "computes latency from enqueued_at, else created_at, in either unit" do
      now = Time.now.to_f
      expect(record("enqueued_at" => now - 40).latency).to be_within(5).of(40)
      expect(record("created_at" => ((now - 70) * 1000).to_i).latency).to be_within(5).of(70)
      expect(record({}).latency).to eq(0.0)
    end
  end

  describe "#error_backtrace" do
    let(:lines) { ["app/jobs/hard_job.rb:3:in `perform'", "lib/x.rb:1"] }

    it "decodes the strict base64 Ferrokiq and Sidekiq 7.2.2+ write" do
      stored = Ferrokiq::Native.compress_backtrace(lines)
      expect(stored).not_to include("\n")
      expect(record("error_backtrace" => stored).error_backtrace).to eq(lines)
    end

    it "decodes the line-wrapped base64 Sidekiq 6.4 writes" do
      stored = [Zlib::Deflate.deflate(JSON.generate(lines * 20))].pack("m")
      expect(stored).to include("\n")
      expect(record("error_backtrace" => stored).error_backtrace).to eq(lines * 20)
    end

    it "is nil without a backtrace" do
      expect(record({}).error_backtrace).to be_nil
    end
  end

  describe "Active Job" do
    %w[ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper Sidekiq::ActiveJob::Wrapper].each do |wrapper|
      it "shows the wrapped class and its arguments for #{wrapper}" do
        arguments = [1, { "_aj_globalid" => "gid://app/User/7" },
                     { "key" => "v", "_aj_symbol_keys" => ["key"] }, [{ "_aj_globalid" => "gid://app/Post/1" }]]
        job = record(active_job(wrapper, "SignupJob", arguments))
        expect(job.klass).to eq(wrapper)
        expect(job.display_class).to eq("SignupJob")
        expect(job.display_args).to eq([1, "gid://app/User/7", { "key" => "v" }, ["gid://app/Post/1"]])
      end
    end

    it "shows mail deliveries as Mailer#method with the mail's own arguments" do
      mail = active_job("Sidekiq::ActiveJob::Wrapper", "ActionMailer::MailDeliveryJob",
                        ["UserMailer", "welcome", "deliver_now",
                         { "params" => { "x" => 1, "_aj_symbol_keys" => ["x"] },
                           "args" => [{ "_aj_globalid" => "gid://app/User/7" }],
                           "_aj_symbol_keys" => %w[params args] }])
      job = record(mail)
      expect(job.display_class).to eq("UserMailer#welcome")
      expect(job.display_args).to eq([{ "x" => 1 }, ["gid://app/User/7"]])

      legacy = active_job("ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper", "ActionMailer::DeliveryJob",
                          %w[UserMailer welcome deliver_now a b])
      expect(record(legacy).display_class).to eq("UserMailer#welcome")
      expect(record(legacy).display_args).to eq(%w[a b])
    end

    it "finds the job class in the serialized job when `wrapped` is missing" do
      payload = active_job("Sidekiq::ActiveJob::Wrapper", "SignupJob", [2])
      payload.delete("wrapped")
      expect(record(payload).display_class).to eq("SignupJob")
      expect(record(payload).display_args).to eq([2])
    end
  end

  it "lets display_class override the shown class" do
    expect(record("class" => "Generic", "display_class" => "Specific").display_class).to eq("Specific")
  end

  it "masks an encrypted last argument without changing args" do
    job = record("class" => "Secret", "args" => [1, "ciphertext"], "encrypt" => true)
    expect(job.display_args).to eq([1, "[encrypted data]"])
    expect(job.args).to eq([1, "ciphertext"])
  end

  it "keeps an unreadable payload as its only argument" do
    job = described_class.new("{oops", "default")
    expect(job.item).to eq({})
    expect(job.args).to eq(["{oops"])
    expect(job.klass).to be_nil
    expect(job.jid).to be_nil
    expect(described_class.new("[1]").args).to eq(["[1]"])
  end

  it "accepts a Hash and deletes its job by the JSON every writer produces" do
    jid = Sidekiq::Client.push("class" => "HashJob", "args" => [1.5, "é"])
    job = described_class.new(queue_jobs.first)
    expect(job.jid).to eq(jid)
    expect(job.value).to be_nil
    expect(job.delete).to be(true)
    expect(raw_queue).to be_empty
  end
end
