# frozen_string_literal: true

require "sidekiq/api"
require "sidekiq/scheduled"

# Sidekiq 7's manual mover of due jobs, as apps' test suites call it: due jobs of the retry and
# schedule sets go to their queues through the client middleware; the rest stay; an entry that is
# not a job goes to the dead set and is reported.
RSpec.describe Sidekiq::Scheduled::Enq do
  let(:stamper) do
    Class.new do
      def call(_class, job, _queue, _pool)
        job["stamped"] = true
        yield
      end
    end
  end
  let(:reports) { [] }
  let(:config) { Sidekiq.default_configuration }

  def add(set, score, job)
    member = job.is_a?(String) ? job : Sidekiq.dump_json(job)
    Sidekiq.redis { |conn| conn.call("ZADD", set, score.to_s, member) }
  end

  def job(jid, queue: "default")
    { "class" => "EnqJob", "args" => [jid], "jid" => jid, "queue" => queue, "retry" => true }
  end

  def members(set)
    Sidekiq.redis { |conn| conn.call("ZRANGE", set, 0, -1) }
  end

  around do |example|
    handlers = config.error_handlers.dup
    config.error_handlers.replace([->(error, context, *) { reports << [error, context] }])
    config.client_middleware.add(stamper)
    example.run
  ensure
    config.client_middleware.remove(stamper)
    config.error_handlers.replace(handlers)
  end

  it "pushes every due job of both sets through the client middleware and leaves the rest" do
    now = Time.now.to_f
    add("schedule", now - 60, job("s1"))
    add("schedule", now - 30, job("s2", queue: "other"))
    add("schedule", now + 3600, job("later"))
    add("retry", now - 1, job("r1").merge("retry_count" => 0, "error_class" => "RuntimeError"))

    described_class.new(config).enqueue_jobs

    expect(redis_json_list("queue:default").map { |pushed| [pushed["jid"], pushed["stamped"]] })
      .to contain_exactly(["s1", true], ["r1", true])
    expect(redis_json_list("queue:other").map { |pushed| pushed["jid"] }).to eq(["s2"])
    expect(members("schedule").map { |member| JSON.parse(member)["jid"] }).to eq(["later"])
    expect(members("retry")).to be_empty
    expect(reports).to be_empty
  end

  it "moves only the sets it is given, and takes no argument as Sidekiq 6 did" do
    add("schedule", 1, job("s1"))
    add("retry", 1, job("r1"))
    described_class.new.enqueue_jobs(%w[retry])
    expect(redis_json_list("queue:default").map { |pushed| pushed["jid"] }).to eq(["r1"])
    expect(members("schedule").size).to eq(1)
  end

  it "sends an entry that is not a job to the dead set, reports it and goes on" do
    add("schedule", 1, "{not json")
    add("schedule", 2, "[1,2]")
    add("schedule", 3, job("s1"))
    described_class.new(config).enqueue_jobs
    expect(redis_json_list("queue:default").map { |pushed| pushed["jid"] }).to eq(["s1"])
    expect(members("dead")).to contain_exactly("{not json", "[1,2]")
    expect(reports.map { |(error, context)| [error.class, context[:jobstr]] })
      .to contain_exactly([JSON::ParserError, "{not json"], [JSON::ParserError, "[1,2]"])
  end

  it "puts the job back with its score when its push fails" do
    add("schedule", 5, job("s1"))
    refuser = Class.new { define_method(:call) { |*| raise IOError, "no push today" } }
    config.client_middleware.add(refuser)
    expect { described_class.new(config).enqueue_jobs }.to raise_error(IOError, "no push today")
    expect(Sidekiq.redis { |conn| conn.call("ZRANGE", "schedule", 0, -1, "WITHSCORES") })
      .to eq([[Sidekiq.dump_json(job("s1")), 5.0]])
  ensure
    config.client_middleware.remove(refuser)
  end

  it "stops before the next job once terminated" do
    3.times { |n| add("schedule", n + 1, job("s#{n}")) }
    enq = described_class.new(config)
    halter = Class.new { define_method(:call) { |*, &block| block.call.tap { enq.terminate } } }
    config.client_middleware.add(halter)
    enq.enqueue_jobs
    expect(redis_json_list("queue:default").size).to eq(1)
    expect(members("schedule").size).to eq(2)
  ensure
    config.client_middleware.remove(halter)
  end
end
