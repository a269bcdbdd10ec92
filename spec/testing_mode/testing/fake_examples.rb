# frozen_string_literal: true

require "sidekiq/testing"

RSpec.describe "Sidekiq::Testing.fake!" do
  describe "pushing" do
    it "stores the job, as it went through JSON, under its queue and its class" do
      jid = EchoJob.perform_async(1, "two", { "three" => [3.0, nil] })
      job = EchoJob.jobs.first
      expect(job).to include("class" => "EchoJob", "queue" => "default", "jid" => jid, "retry" => true,
                             "args" => [1, "two", { "three" => [3.0, nil] }])
      expect(Sidekiq::Queues["default"]).to eq([job])
      expect(Sidekiq::Queues.jobs_by_queue).to eq("default" => [job])
      expect(Sidekiq::Queues.jobs_by_class).to eq("EchoJob" => [job])
      expect(Sidekiq::Queues.jobs_by_worker).to equal(Sidekiq::Queues.jobs_by_class)
    end

    it "stores a copy made through JSON, not the caller's objects" do
      Sidekiq.strict_args!(false)
      arg = { "list" => [:sym] }
      EchoJob.perform_async(arg)
      expect(EchoJob.jobs.first["args"]).to eq([{ "list" => ["sym"] }])
      expect(EchoJob.jobs.first["args"].first).not_to equal(arg)
    end

    it "sets enqueued_at, a Float, on jobs for a queue" do
      before = Time.now.to_f
      AddJob.perform_async(1, 2)
      expect(AddJob.jobs.first["enqueued_at"]).to be_a(Float).and be_between(before, Time.now.to_f)
      expect(AddJob.jobs.first["created_at"]).to be_a(Float)
    end

    it "keeps `at` and sets no enqueued_at on scheduled jobs" do
      AddJob.perform_in(3600, 1, 2)
      job = AddJob.jobs.first
      expect(job["at"]).to be_within(5).of(Time.now.to_f + 3600)
      expect(job).not_to have_key("enqueued_at")
    end

    it "honours the class's queue and per-push options" do
      CriticalJob.perform_async("a")
      CriticalJob.set(queue: "elsewhere", retry: false).perform_async("b")
      expect(Sidekiq::Queues["critical"].map { |job| job["args"] }).to eq([["a"]])
      expect(Sidekiq::Queues["elsewhere"].first).to include("args" => ["b"], "retry" => false)
      expect(CriticalJob.jobs.map { |job| job["args"] }).to eq([["a"], ["b"]])
    end

    it "accepts a class name String, as Sidekiq::Client.push does" do
      Sidekiq::Client.push("class" => "Billing::InvoiceJob", "args" => [7], "queue" => "billing")
      expect(Billing::InvoiceJob.jobs.first).to include("class" => "Billing::InvoiceJob", "args" => [7])
      Billing::InvoiceJob.drain
      expect(JobLog.entries).to eq([[:invoice, 7]])
    end

    it "keeps push_bulk jobs (each with its own jid), now and scheduled" do
      at = Time.now.to_f + 60
      jids = Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[1, 2], [3, 4]])
      AddJob.perform_bulk([[5, 6]])
      scheduled = Sidekiq::Client.push_bulk("class" => AddJob, "args" => [[7, 8]], "at" => at)
      expect(AddJob.jobs.map { |job| job["args"] }).to eq([[1, 2], [3, 4], [5, 6], [7, 8]])
      expect(AddJob.jobs.first(2).map { |job| job["jid"] }).to eq(jids)
      expect(AddJob.jobs.last).to include("jid" => scheduled.first, "at" => at)
      expect(jids.uniq.size).to eq(2)
    end

    it "runs client middleware, which may change or stop the push" do
      Sidekiq.configure_client { |config| config.client_middleware { |chain| chain.add StampMiddleware } }
      expect(EchoJob.perform_async("stop")).to be_nil
      expect(EchoJob.perform_async("go")).to match(/\A\h{24}\z/)
      bulk = Sidekiq::Client.push_bulk("class" => EchoJob, "args" => [["stop"], ["bulk"]])
      expect(bulk.first).to be_nil
      expect(EchoJob.jobs.map { |job| [job["args"], job["stamp"]] }).to eq([[["go"], "client"], [["bulk"], "client"]])
    end

    it "still validates jobs and checks args strictly (nothing is stored)" do
      expect { EchoJob.perform_async(:symbol) }.to raise_error(ArgumentError, /must be native JSON types/)
      expect { Sidekiq::Client.push_bulk("class" => EchoJob, "args" => [[Time.now]]) }
        .to raise_error(ArgumentError, /must be native JSON types/)
      expect { Sidekiq::Client.push("class" => EchoJob, "args" => 1) }
        .to raise_error(ArgumentError, /args must be an Array/)
      expect { EchoJob.set(queue: "").perform_async(1) }.to raise_error(ArgumentError, /valid queue name/)
      expect(Sidekiq::Job.jobs).to be_empty
    end
  end

  describe "Sidekiq::Queues" do
    it "deletes by jid and clears by queue and class, taking Symbol queue names" do
      kept = AddJob.set(queue: "side").perform_async(1, 2)
      gone = AddJob.set(queue: "side").perform_async(3, 4)
      jobs = AddJob.jobs
      Sidekiq::Queues.delete_for(gone, :side, "AddJob")
      expect(Sidekiq::Queues["side"].map { |job| job["jid"] }).to eq([kept])
      expect(jobs.map { |job| job["jid"] }).to eq([kept])

      Sidekiq::Queues.clear_for(:side, "AddJob")
      expect(Sidekiq::Queues["side"]).to be_empty
      expect(AddJob.jobs).to equal(jobs).and be_empty
    end

    it "indexes a pushed job under the queue and class it is given" do
      job = { "class" => "AddJob", "queue" => "default", "jid" => "j1", "args" => [1, 2] }
      Sidekiq::Queues.push("elsewhere", "AddJob", job)
      expect(Sidekiq::Queues.jobs_by_queue).to eq("elsewhere" => [job])
      expect(AddJob.jobs).to eq([job])
    end
  end

  describe "Job.clear" do
    it "empties the class's list and the class's queue, and nothing else" do
      AddJob.perform_async(1, 2)
      EchoJob.perform_async(3)
      EchoJob.set(queue: "other").perform_async(4)
      CriticalJob.perform_async(5)

      EchoJob.clear

      expect(EchoJob.jobs).to be_empty
      expect(Sidekiq::Queues["default"]).to be_empty # AddJob's job shared the queue
      expect(AddJob.jobs.size).to eq(1) # but its class list is not touched
      expect(Sidekiq::Queues["other"].size).to eq(1)
      expect(CriticalJob.jobs.size).to eq(1)
    end
  end

  describe "Job.drain" do
    it "runs the class's jobs oldest first and removes them from both lists" do
      AddJob.perform_async(1, 2)
      AddJob.perform_async(3, 4)
      AddJob.drain
      expect(JobLog.entries).to eq([[:add, 1, 2], [:add, 3, 4]])
      expect(AddJob.jobs).to be_empty
      expect(Sidekiq::Queues["default"]).to be_empty
    end

    it "also runs jobs of the class pushed while draining" do
      CountdownJob.perform_async(3)
      CountdownJob.drain
      expect(JobLog.entries).to eq([3, 2, 1, 0].map { |count| [:countdown, count] })
      expect(CountdownJob.jobs).to be_empty
    end

    it "leaves other classes' jobs alone, including ones pushed while draining" do
      FanOutJob.perform_async(2)
      FanOutJob.drain
      expect(JobLog.entries).to eq([[:fan_out, 2]])
      expect(AddJob.jobs.map { |job| job["args"] }).to eq([[0, 2], [1, 2]])
    end

    it "runs scheduled jobs too, and lets errors through, removing the failed job" do
      FailingJob.perform_in(600, "late")
      FailingJob.perform_async("now")
      expect { FailingJob.drain }.to raise_error(ArgumentError, "late")
      expect(FailingJob.jobs.map { |job| job["args"] }).to eq([["now"]])
    end

    it "gives each job its jid" do
      jid = EchoJob.perform_async
      EchoJob.drain
      expect(JobLog.entries).to eq([[:echo, [], jid]])
    end
  end

  describe "Job.perform_one" do
    it "runs only the oldest job" do
      AddJob.perform_async(1, 2)
      AddJob.perform_async(3, 4)
      AddJob.perform_one
      expect(JobLog.entries).to eq([[:add, 1, 2]])
      expect(AddJob.jobs.map { |job| job["args"] }).to eq([[3, 4]])
      expect(Sidekiq::Queues["default"].size).to eq(1)
    end

    it "removes the job from the queue it was pushed to, even another than the class's" do
      AddJob.set(queue: "side").perform_async(1, 2)
      AddJob.perform_one
      expect(Sidekiq::Queues["side"]).to be_empty
    end

    it "raises Sidekiq::EmptyQueueError when the class has no job" do
      expect { AddJob.perform_one }
        .to raise_error(Sidekiq::EmptyQueueError, "perform_one called with empty job queue")
    end
  end

  describe "Job.process_job and Sidekiq::Testing.server_middleware" do
    it "runs jobs through the testing chain, not the server's chain" do
      Sidekiq.default_configuration.server_middleware.add RecordingServerMiddleware
      jid = CriticalJob.perform_async("a")
      CriticalJob.drain
      expect(JobLog.entries).to eq([[:critical, "a"]])

      Sidekiq::Testing.server_middleware.add RecordingServerMiddleware
      Sidekiq.default_configuration.server_middleware.clear
      second = CriticalJob.perform_async("b")
      CriticalJob.drain
      expect(JobLog.entries.last(2)).to eq([[:server_middleware, "CriticalJob", second, "critical"], [:critical, "b"]])
      expect(jid).not_to eq(second)
    end

    it "skips perform when a server middleware does not yield" do
      Sidekiq::Testing.server_middleware { |chain| chain.add RecordingServerMiddleware }
      AddJob.perform_async("skip", 1)
      AddJob.drain
      expect(JobLog.entries.map(&:first)).to eq([:server_middleware])
      expect(AddJob.jobs).to be_empty
    end

    it "sets bid on jobs that have one" do
      batch_job = Class.new(EchoJob) { attr_accessor :bid }
      stub_const("BatchJob", batch_job)
      seen = nil
      allow_any_instance_of(batch_job).to receive(:perform) { |instance| seen = instance.bid }
      BatchJob.process_job("jid" => "0" * 24, "bid" => "b-1", "args" => [], "queue" => "default")
      expect(seen).to eq("b-1")
    end
  end

  describe "Sidekiq::Job and Sidekiq::Worker" do
    before do
      AddJob.perform_async(1, 2)
      CriticalJob.perform_async(3)
      FanOutJob.perform_async(1)
    end

    it ".jobs lists every job across queues" do
      expect(Sidekiq::Job.jobs.map { |job| job["class"] }).to contain_exactly("AddJob", "CriticalJob", "FanOutJob")
      expect(Sidekiq::Worker.jobs).to eq(Sidekiq::Job.jobs)
    end

    it ".clear_all forgets every job" do
      Sidekiq::Worker.clear_all
      expect(Sidekiq::Job.jobs).to be_empty
      expect(AddJob.jobs).to be_empty
    end

    it ".drain_all runs every job, including those pushed while draining" do
      CountdownJob.perform_async(1)
      Sidekiq::Job.drain_all
      expect(JobLog.entries).to contain_exactly(
        [:add, 1, 2], [:critical, 3], [:fan_out, 1], [:add, 0, 1], [:countdown, 1], [:countdown, 0]
      )
      expect(Sidekiq::Job.jobs).to be_empty
    end

    # Sidekiq loops forever here: the job is in a queue's list but no drain can reach it.
    it ".drain_all raises, keeping the job, when a cleared class left a job in another queue" do
      EchoJob.set(queue: "side").perform_async(1)
      EchoJob.clear # empties EchoJob.jobs and the "default" queue, not "side"
      expect { Sidekiq::Job.drain_all }.to raise_error(RuntimeError, /cannot run 1 job\(s\) of EchoJob/)
      expect(JobLog.entries).to eq([[:critical, 3]])
      expect(Sidekiq::Queues["side"].map { |job| job["args"] }).to eq([[1]])
    end
  end
end
