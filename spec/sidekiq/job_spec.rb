# frozen_string_literal: true

RSpec.describe Sidekiq::Job do
  before do
    stub_const("PlainJob", Class.new do
      include Sidekiq::Job

      def perform(*); end
    end)
    stub_const("CriticalJob", Class.new do
      include Sidekiq::Job
      sidekiq_options queue: "critical", retry: 5, backtrace: 10, tags: ["alpha"], custom: { nested: 1 }

      def perform(*); end
    end)
  end

  describe ".sidekiq_options" do
    it "defaults to Sidekiq.default_job_options" do
      expect(PlainJob.get_sidekiq_options).to eq("retry" => true, "queue" => "default")
    end

    it "stringifies keys (and nested Hash keys) and merges onto the defaults" do
      expect(CriticalJob.get_sidekiq_options).to eq(
        "retry" => 5, "queue" => "critical", "backtrace" => 10, "tags" => ["alpha"], "custom" => { "nested" => 1 }
      )
    end

    it "is inherited until a subclass sets its own, without changing the parent" do
      child = Class.new(CriticalJob)
      expect(child.get_sidekiq_options["queue"]).to eq("critical")
      child.sidekiq_options retry: false
      expect(child.get_sidekiq_options).to include("queue" => "critical", "retry" => false)
      expect(CriticalJob.get_sidekiq_options["retry"]).to eq(5)
    end

    it "sees later changes to Sidekiq.default_job_options" do
      original = Sidekiq.default_job_options
      Sidekiq.default_job_options = { backtrace: true }
      expect(PlainJob.get_sidekiq_options).to eq("retry" => true, "queue" => "default", "backtrace" => true)
    ensure
      Sidekiq.instance_variable_set(:@default_job_options, original)
    end

    it "keeps sidekiq_retry_in and sidekiq_retries_exhausted blocks, inherited" do
      CriticalJob.sidekiq_retry_in { |count| count * 2 }
      CriticalJob.sidekiq_retries_exhausted { |msg, _ex| msg }
      child = Class.new(CriticalJob)
      expect(child.sidekiq_retry_in_block.call(3)).to eq(6)
      expect(child.new.sidekiq_retries_exhausted_block.call(:msg, nil)).to eq(:msg)
    end

    it "queue_as sets the queue" do
      PlainJob.queue_as :low
      expect(PlainJob.get_sidekiq_options["queue"]).to eq("low")
    end
  end

  describe ".perform_async" do
    it "pushes Sidekiq 7's payload to the class's queue and returns the jid" do
      before = Time.now.to_f
      jid = CriticalJob.perform_async(1, "two", 3.5, [nil, true], { "k" => "v" })
      expect(jid).to match(/\A[0-9a-f]{24}\z/)
      expect(known_queues).to eq(["critical"])
      job = queue_jobs("critical").first
      expect(job.keys).to eq(%w[retry queue backtrace tags custom args class jid created_at enqueued_at])
      expect(job).to include("class" => "CriticalJob", "args" => [1, "two", 3.5, [nil, true], { "k" => "v" }],
                             "jid" => jid, "queue" => "critical", "retry" => 5, "custom" => { "nested" => 1 })
      expect(job["created_at"]).to be_a(Float).and be_between(before, Time.now.to_f)
      expect(job["enqueued_at"]).to be >= job["created_at"]
    end

    it "writes timestamps with a decimal point and Ruby's JSON bytes" do
      PlainJob.perform_async("é ✓", 0.1, 1e20, -0.0)
      raw = raw_queue.first
      expect(raw).to match(/"created_at":\d+\.\d+/)
      expect(raw).to match(/"enqueued_at":\d+\.\d+/)
      expect(raw).to include(%("args":["é ✓",0.1,1.0e+20,-0.0]))
      expect(JSON.generate(JSON.parse(raw))).to eq(raw)
    end

    it "gives every job a different jid" do
      jids = Array.new(200) { PlainJob.perform_async }
      expect(jids.uniq.size).to eq(200)
    end

    it "refuses Symbols in the payload keys" do
      expect { PlainJob.client_push(class: PlainJob, args: []) }
        .to raise_error(ArgumentError, /Job payloads should contain no Symbols/)
    end

    it "refuses the old delay extensions" do
      expect { PlainJob.delay }.to raise_error(ArgumentError, /call .perform_async/)
      expect { PlainJob.delay_for(1) }.to raise_error(ArgumentError, /call .perform_in/)
      expect { PlainJob.delay_until(1) }.to raise_error(ArgumentError, /call .perform_at/)
    end
  end

  describe ".perform_in / .perform_at" do
    it "schedules relative intervals: the score is the run time, the JSON has no at/enqueued_at" do
      before = Time.now.to_f
      jid = PlainJob.perform_in(60, "later")
      expect(raw_queue).to be_empty
      (job, score), = scheduled_jobs
      expect(job).to include("jid" => jid, "args" => ["later"], "class" => "PlainJob")
      expect(job).not_to include("at", "enqueued_at")
      expect(score).to be_between(before + 60, Time.now.to_f + 60)
    end

    it "treats values of 1e9 and more as epoch timestamps" do
      at = Time.now.to_f + 3600
      PlainJob.perform_at(at, 1)
      expect(scheduled_jobs.first.last).to be_within(0.001).of(at)
      PlainJob.perform_at(Time.at(at + 1), 2)
      expect(scheduled_jobs.last.last).to be_within(0.001).of(at + 1)
    end

    it "enqueues at once when the time is now or past" do
      PlainJob.perform_in(0, "now")
      PlainJob.perform_in(-5, "past")
      PlainJob.perform_at(Time.now - 60, "past time")
      expect(scheduled_jobs).to be_empty
      expect(queue_jobs.map { |job| job["args"].first }).to contain_exactly("now", "past", "past time")
    end
  end

  describe ".perform_bulk" do
    it "pushes every args array and returns the jids in order" do
      jids = CriticalJob.perform_bulk([[1], [2], [3]])
      jobs = queue_jobs("critical").reverse
      expect(jobs.map { |job| job["jid"] }).to eq(jids)
      expect(jobs.map { |job| job["args"] }).to eq([[1], [2], [3]])
      expect(jids.uniq.size).to eq(3)
    end

    it "sends in slices of batch_size" do
      pushes = []
      counter = Class.new do
        define_method(:call) do |_klass, job, _queue, _pool, &block|
          pushes << job["args"].first
          block.call
        end
      end
      Sidekiq.default_configuration.client_middleware.add(counter)
      jids = PlainJob.perform_bulk((1..25).map { |i| [i] }, batch_size: 10)
      expect(jids.size).to eq(25)
      expect(queue_jobs.size).to eq(25)
      expect(pushes).to eq((1..25).to_a)
    ensure
      Sidekiq.default_configuration.client_middleware.remove(counter)
    end
  end

  describe ".set" do
    it "overrides options for one push" do
      CriticalJob.set(queue: "other", retry: false, "backtrace" => true).perform_async(1)
      job = queue_jobs("other").first
      expect(job).to include("queue" => "other", "retry" => false, "backtrace" => true)
      expect(CriticalJob.get_sidekiq_options["queue"]).to eq("critical")
    end

    it "schedules with wait: and wait_until:" do
      before = Time.now.to_f
      PlainJob.set(wait: 120).perform_async("wait")
      PlainJob.set(wait_until: Time.now + 240).perform_async("until")
      scores = scheduled_jobs.to_h { |job, score| [job["args"].first, score] }
      expect(scores["wait"]).to be_between(before + 120, Time.now.to_f + 120)
      expect(scores["until"]).to be_between(before + 239, Time.now.to_f + 240)
    end

    it "supports perform_in and perform_bulk on the setter" do
      PlainJob.set(queue: "bulkq").perform_bulk([[1], [2]])
      expect(queue_jobs("bulkq").size).to eq(2)
      PlainJob.set(queue: "later").perform_in(30, 3)
      expect(scheduled_jobs.first.first["queue"]).to eq("later")
    end

    it "runs the job inline with sync: true" do
      ran = []
      stub_const("SyncJob", Class.new do
        include Sidekiq::Job

        define_method(:perform) { |x| ran << [x, jid] }
      end)
      expect(SyncJob.set(sync: true).perform_async(7)).to be(true)
      expect(ran.first.first).to eq(7)
      expect(ran.first.last).to match(/\A\h{24}\z/)
      expect(raw_queue).to be_empty
    end
  end

  describe ".perform_inline" do
    before do
      stub_const("InlineJob", Class.new do
        include Sidekiq::Job

        class << self
          attr_accessor :seen
        end

        def perform(*args)
          self.class.seen = [args, jid]
        end
      end)
    end

    it "runs perform with JSON-round-tripped args and a jid, through server middleware" do
      calls = []
      tracer = Class.new do
        define_method(:call) do |job, hash, queue, &block|
          calls << [job.class, hash["class"], queue]
          block.call
        end
      end
      Sidekiq.default_configuration.server_middleware.add(tracer)
      expect(InlineJob.perform_inline(1, { "a" => [2] })).to be(true)
      expect(InlineJob.seen.first).to eq([1, { "a" => [2] }])
      expect(InlineJob.seen.last).to match(/\A\h{24}\z/)
      expect(calls).to eq([[InlineJob, "InlineJob", "default"]])
      expect(InlineJob.perform_sync(3)).to be(true)
    ensure
      Sidekiq.default_configuration.server_middleware.remove(tracer)
    end

    it "returns nil when server middleware does not yield" do
      blocker = Class.new { define_method(:call) { |*| nil } }
      Sidekiq.default_configuration.server_middleware.add(blocker)
      expect(InlineJob.perform_inline(1)).to be_nil
      expect(InlineJob.seen).to be_nil
    ensure
      Sidekiq.default_configuration.server_middleware.remove(blocker)
    end

    it "raises the job's exceptions into the caller" do
      stub_const("BoomJob", Class.new do
        include Sidekiq::Job

        def perform
          raise "boom"
        end
      end)
      expect { BoomJob.perform_inline }.to raise_error(RuntimeError, "boom")
    end
  end

  it "is also available as Sidekiq::Worker" do
    klass = Class.new { include Sidekiq::Worker }
    expect(klass).to respond_to(:perform_async)
    expect(Sidekiq::Worker).to equal(Sidekiq::Job)
  end

  it "gives jobs a logger and a jid accessor" do
    job = PlainJob.new
    job.jid = "abc"
    expect(job.jid).to eq("abc")
    expect(job.logger).to equal(Sidekiq.logger)
  end
end
