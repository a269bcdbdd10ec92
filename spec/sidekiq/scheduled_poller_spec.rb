# frozen_string_literal: true

require "sidekiq/api"
require "sidekiq/scheduled"

# Sidekiq 7's poller as apps' code makes one (test suites, scripts): #enqueue moves what is due
# now, #start repeats it on a thread until #terminate; failures are reported, never raised.
RSpec.describe Sidekiq::Scheduled::Poller do # rubocop:disable Metrics/BlockLength
  let(:config) { Sidekiq.default_configuration }
  let(:reports) { [] }

  def due_job(jid)
    job = { "class" => "PolledJob", "args" => [], "jid" => jid, "queue" => "default" }
    Sidekiq.redis { |conn| conn.call("ZADD", "schedule", (Time.now.to_f - 1).to_s, Sidekiq.dump_json(job)) }
  end

  def queued_jids
    redis_json_list("queue:default").map { |job| job["jid"] }
  end

  around do |example|
    handlers = config.error_handlers.dup
    config.error_handlers.replace([->(error, context, *) { reports << [error, context] }])
    example.run
  ensure
    config.error_handlers.replace(handlers)
    config[:poll_interval_average] = nil
  end

  it "moves the due jobs when asked, as test suites do" do
    due_job("a1")
    described_class.new(config).enqueue
    expect(queued_jids).to eq(["a1"])
    expect(Sidekiq.redis { |conn| conn.zcard("schedule") }).to eq(0)
  end

  it "reports a failed pass instead of raising, the job back in its set" do
    due_job("a2")
    refuser = Class.new { define_method(:call) { |*| raise IOError, "Redis went away" } }
    config.client_middleware.add(refuser)
    expect { described_class.new(config).enqueue }.not_to raise_error
    expect(reports.map { |(error, context)| [error.message, context[:context]] })
      .to eq([["Redis went away", "Scheduled::Poller"]])
    expect(Sidekiq.redis { |conn| conn.zcard("schedule") }).to eq(1)
  ensure
    config.client_middleware.remove(refuser)
  end

  it "polls on its own thread once started, and stops when terminated" do
    config[:poll_interval_average] = 0.05 # no initial wait beyond Sidekiq's 0-5 s of jitter
    poller = described_class.new(config)
    thread = poller.start
    expect(poller.start).to equal(thread)
    due_job("a3")
    eventually { queued_jids == ["a3"] }
    due_job("a4")
    eventually { queued_jids.sort == %w[a3 a4] }
    poller.terminate
    expect(thread).not_to be_alive
    expect(thread.name).to eq("sidekiq.scheduler")
  end

  it "keeps polling when Redis cannot count the processes, and reports it" do
    stub_const("#{described_class}::ERROR_PAUSE", 0.05)
    Sidekiq.redis { |conn| conn.set("processes", "not a set") }
    poller = described_class.new(config)
    poller.start
    eventually { reports.any? }
    expect(reports.first.first.message).to start_with("WRONGTYPE")
    expect(reports.first.last[:context]).to eq("Scheduled::Poller")
    Sidekiq.redis { |conn| conn.del("processes") }
    due_job("a5")
    eventually { queued_jids == ["a5"] }
    poller.terminate
  end

  it "can be terminated without having started" do
    expect { described_class.new(config).terminate }.not_to raise_error
  end
end
