# frozen_string_literal: true

require "sidekiq/processor"
require_relative "../support/fake_engine"

# The processor and the retry logic in this process, against a fake engine: what each kind of
# job ends in, and which engine calls settle it.
RSpec.describe Sidekiq::Processor do
  let(:errors) { [] }
  let(:config) do
    Sidekiq::Config.new.tap do |config|
      config.logger = Logger.new(File::NULL)
      config.error_handlers.replace([->(ex, ctx) { errors << [ex, ctx] }])
    end
  end

  before do
    stub_const("OkJob", job_class { |*| nil })
    stub_const("FailJob", job_class { |*| raise ArgumentError, "bad" })
    stub_const("KillsItsThreadJob", job_class { Thread.current.kill })
    stub_const("SlowJob", job_class { sleep 5 })
  end

  def job_class(&perform)
    Class.new do
      include Sidekiq::Job

      define_method(:perform, &perform)
    end
  end

  def processor_for(engine)
    described_class.new(config, engine, Sidekiq::JobLogger.new(config), Sidekiq::JobRetry.new(config, engine))
  end

  def payload(klass, args = [], **extra)
    JSON.generate({ "class" => klass, "args" => args, "jid" => "jid-#{klass}", "queue" => "default",
                    "retry" => true }.merge(extra.transform_keys(&:to_s)))
  end

  # Runs the processor until the fake engine has no more jobs; returns the engine.
  def run(*payloads, engine: FakeEngine.new(payloads.map { |p| ["default", p] }))
    processor_for(engine).start.thread.join(10)
    engine
  end

  it "acknowledges a job that ran" do
    engine = run(payload("OkJob"))
    expect(engine.call_names).to eq(%i[work_started work_finished acknowledge])
  end

  it "schedules a retry for a failure, then acknowledges" do
    engine = run(payload("FailJob"))
    expect(engine.call_names).to eq(%i[work_started schedule_retry work_finished acknowledge])
    expect(JSON.parse(engine.retries.first)).to include("retry_count" => 0, "error_class" => "ArgumentError")
    expect(errors.map { |ex, _| ex.message }).to eq(["bad"])
  end

  it "sends a failing job whose args no longer serialize (1e400) to the dead set as fetched" do
    stored = payload("FailJob").sub('"args":[]', '"args":[1e400]')
    engine = run(stored)
    expect(engine.morgue).to eq([stored])
    expect(engine.call_names).to eq(%i[work_started send_to_morgue work_finished acknowledge])
    contexts = errors.map { |_, ctx| ctx[:context] }
    expect(contexts).to include(a_string_matching(/moved it to the dead set as it was fetched/))
  end

  it "sends a failing job with a corrupt retry_count to the dead set instead of looping" do
    stored = payload("FailJob", retry_count: "abc")
    engine = run(stored)
    expect(engine.morgue).to eq([stored])
    expect(engine.call_names.last).to eq(:acknowledge)
  end

  it "abandons a job whose failure cannot be written because Redis fails, for the sweep to run again" do
    engine = FakeEngine.new([["default", payload("FailJob")]])
    engine.fail(:schedule_retry, Ferrokiq::CommandError.new("OOM command not allowed when used memory > 'maxmemory'."))
    run(engine:)
    expect(engine.call_names.last).to eq(:abandon)
    expect(engine.call_names).not_to include(:acknowledge)
    expect(errors.map { |_, ctx| ctx[:context] }).to include("Internal exception!")
  end

  it "abandons a job that killed its own thread" do
    engine = run(payload("KillsItsThreadJob"))
    expect(engine.call_names.last).to eq(:abandon)
  end

  it "tells the engine its thread ends, whether the loop ran out or a job killed the thread" do
    expect(run(payload("OkJob")).ended_lanes).to eq([0])
    expect(run(payload("KillsItsThreadJob"), payload("OkJob")).ended_lanes).to eq([0])
  end

  it "dead-letters and acknowledges JSON that is no job" do
    engine = run("42", "{nope")
    expect(engine.morgue).to eq(%w[42 {nope])
    expect(engine.call_names.count(:acknowledge)).to eq(2)
  end

  it "runs a payload with invalid UTF-8 in its args, as Sidekiq does" do
    stub_const("SEEN", [])
    stub_const("SeenJob", job_class { |arg| SEEN << arg })
    engine = run(+"{\"class\":\"SeenJob\",\"args\":[\"caf\xE9\"],\"jid\":\"j\",\"queue\":\"default\"}")
    expect(SEEN.first.bytes.last).to eq(0xE9)
    expect(engine.call_names.last).to eq(:acknowledge)
  end

  it "retries a job whose class is not a String the way Sidekiq does (class lookup fails), not in the busy record" do
    engine = run(payload(42))
    expect(JSON.parse(engine.retries.first)["error_class"]).to eq("TypeError")
    expect(engine.call_names.last).to eq(:acknowledge)
  end

  it "lets Sidekiq::Shutdown in only while the job runs, and neither acknowledges nor abandons it" do
    engine = FakeEngine.new([["default", payload("SlowJob")]])
    processor = processor_for(engine).start
    sleep 0.05 until engine.call_names.include?(:work_started)
    processor.thread.raise(Sidekiq::Shutdown)
    processor.thread.join(5)
    expect(processor.thread).not_to be_alive
    expect(engine.call_names).to eq(%i[work_started work_finished])
  end
end
