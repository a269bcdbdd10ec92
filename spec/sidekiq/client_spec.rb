# frozen_string_literal: true

RSpec.describe Sidekiq::Client do
  before do
    stub_const("ClientJob", Class.new do
      include Sidekiq::Job
      sidekiq_options queue: "clientq"

      def perform(*); end
    end)
  end

  # A client middleware that stops jobs whose first arg is "stop" and tags the others.
  let(:gatekeeper) do
    Class.new do
      def call(_klass, job, _queue, _pool)
        return false if job["args"].first == "stop"

        job["seen_by"] = "gatekeeper"
        yield
      end
    end
  end

  # Sends the slice whose first job has +args+ to a key holding a String (a slice goes where its
  # first job goes), which Redis refuses with WRONGTYPE.
  def misroute_slice_of(client, args)
    Sidekiq.redis { |conn| conn.set("queue:not-a-list", "x") }
    redirect = Class.new do
      define_method(:call) do |_klass, job, _queue, _pool, &block|
        job["queue"] = "not-a-list" if job["args"] == args
        block.call
      end
    end
    client.middleware { |chain| chain.add(redirect) }
  end

  describe "#push" do
    it "accepts a String class name and uses the default options", :native do
      jid = described_class.push("class" => "Some::RemoteJob", "args" => [1])
      job = queue_jobs.first
      expect(job).to include("class" => "Some::RemoteJob", "queue" => "default", "retry" => true, "jid" => jid)
    end

    it "keeps a caller-supplied jid and created_at" do
      described_class.push("class" => ClientJob, "args" => [], "jid" => "0" * 24, "created_at" => 1_700_000_000.5)
      job = queue_jobs("clientq").first
      expect(job).to include("jid" => "0" * 24, "created_at" => 1_700_000_000.5)
    end

    it "lets explicit item keys win over class options" do
      described_class.push("class" => ClientJob, "args" => [], "queue" => "elsewhere", "retry" => 2)
      expect(queue_jobs("elsewhere").first).to include("retry" => 2)
    end

    it "keeps a past `at` and schedules the job (Sidekiq's push does not drop it)" do
      described_class.push("class" => ClientJob, "args" => [], "at" => 1_000_000_000)
      expect(scheduled_jobs.map(&:last)).to eq([1_000_000_000.0])
    end

    it "stores the score as Float#to_s of `at`" do
      described_class.push("class" => ClientJob, "args" => [], "at" => 1_900_000_000.123456)
      score = Sidekiq.redis { |conn| conn.call("ZRANGE", "schedule", 0, -1, "WITHSCORES") }.first.last
      expect(score).to eq(1_900_000_000.123456)
    end

    it "runs client middleware, which can change the job or stop it" do
      Sidekiq.default_configuration.client_middleware.add(gatekeeper)
      expect(described_class.push("class" => ClientJob, "args" => ["stop"])).to be_nil
      jid = described_class.push("class" => ClientJob, "args" => ["go"])
      expect(queue_jobs("clientq")).to contain_exactly(include("jid" => jid, "seen_by" => "gatekeeper"))
    ensure
      Sidekiq.default_configuration.client_middleware.remove(gatekeeper)
    end

    it "passes middleware the original class, the normalized job, the queue and the pool" do
      seen = []
      spy = Class.new { define_method(:call) { |*args, &block| seen << args && block.call } }
      client = described_class.new
      client.middleware { |chain| chain.add(spy) }
      client.push("class" => ClientJob, "args" => [1])
      klass, job, queue, pool = seen.first
      expect(klass).to eq(ClientJob)
      expect(job).to include("class" => "ClientJob", "queue" => "clientq")
      expect(queue).to eq("clientq")
      expect(pool).to equal(client.redis_pool)
      expect(Sidekiq.default_configuration.client_middleware).not_to exist(spy)
    end

    {
      "not a Hash" => [[], /Job must be a Hash with 'class' and 'args' keys/],
      "no args" => [{ "class" => "X" }, /Job must be a Hash with 'class' and 'args' keys/],
      "args not an Array" => [{ "class" => "X", "args" => 1 }, /Job args must be an Array/],
      "bad class" => [{ "class" => 1, "args" => [] }, /Job class must be either a Class or String/],
      "bad at" => [{ "class" => "X", "args" => [], "at" => "soon" }, /Job 'at' must be a Numeric timestamp/],
      "bad tags" => [{ "class" => "X", "args" => [], "tags" => "a" }, /Job tags must be an Array/],
      "empty queue" => [{ "class" => "X", "args" => [], "queue" => "" }, /Job must include a valid queue name/],
      "absolute retry_for" => [{ "class" => "X", "args" => [], "retry_for" => 2_000_000_000 },
                               /retry_for must be a relative amount of time/],
      "class without options" => [{ "class" => String, "args" => [] }, /Message must include a Sidekiq::Job class/]
    }.each do |name, (item, message)|
      it "raises ArgumentError for #{name} and writes nothing" do
        expect { described_class.push(item) }.to raise_error(ArgumentError, message)
        expect(known_queues).to be_empty
      end
    end

    it "converts retry_for to an Integer" do
      described_class.push("class" => "X", "args" => [], "retry_for" => 3600.7)
      expect(queue_jobs.first["retry_for"]).to eq(3600)
    end
  end

  describe "strict args" do
    after { Sidekiq.strict_args! }

    it "raises Sidekiq 7's message for non-JSON-native args, after middleware, writing nothing" do
      expect { described_class.push("class" => ClientJob, "args" => [{ sym: 1 }]) }
        .to raise_error(ArgumentError, "Job arguments to ClientJob must be native JSON types, but :sym is a Symbol.\n" \
                                       "See https://github.com/sidekiq/sidekiq/wiki/Best-Practices\n" \
                                       "To disable this error, add `Sidekiq.strict_args!(false)` to your initializer.\n")
      expect { ClientJob.perform_async(Time.at(0)) }.to raise_error(ArgumentError, /is a Time/)
      expect { ClientJob.perform_async(Object.new) }.to raise_error(ArgumentError, /is a Object/)
      expect { ClientJob.perform_async([1, [{ "ok" => { 2 => 3 } }]]) }.to raise_error(ArgumentError, /but 2 is a Integer/)
      expect(known_queues).to be_empty
    end

    it "names the wrapped class for Active Job payloads" do
      item = { "class" => "JobWrapper", "wrapped" => "MyActiveJob", "args" => [:x] }
      expect { described_class.push(item) }.to raise_error(ArgumentError, /Job arguments to MyActiveJob/)
    end

    it "can warn instead, and then the job is pushed with Ruby's JSON of the value" do
      Sidekiq.strict_args!(:warn)
      expect { ClientJob.perform_async(:sym, { key: 1 }) }.to output(/must be native JSON types/).to_stderr
      expect(raw_queue("clientq").first).to include(%("args":["sym",{"key":1}]))
    end

    it "can be switched off" do
      Sidekiq.strict_args!(false)
      ClientJob.perform_async(:quiet)
      expect(queue_jobs("clientq").first["args"]).to eq(["quiet"])
    end
  end

  describe "#push_bulk" do
    it "returns jids 1:1 with args, nil where middleware stopped a job" do
      client = described_class.new
      client.middleware { |chain| chain.add(gatekeeper) }
      jids = client.push_bulk("class" => ClientJob, "args" => [["a"], ["stop"], ["c"]])
      expect(jids.size).to eq(3)
      expect(jids[1]).to be_nil
      expect(queue_jobs("clientq").map { |job| job["jid"] }).to contain_exactly(jids[0], jids[2])
    end

    it "gives middleware one Hash per job, with its own args, jid and `at`" do
      seen = []
      recorder = Class.new do
        define_method(:call) do |_klass, job, _queue, _pool, &block|
          seen << job.dup
          block.call
        end
      end
      client = described_class.new
      client.middleware { |chain| chain.add(recorder) }
      at = Time.now.to_f + 100
      jids = client.push_bulk("class" => ClientJob, "args" => [[1], [2]], "at" => [at, at + 1])
      expect(seen.map { |job| [job["args"], job["jid"], job["at"]] })
        .to eq([[[1], jids[0], at], [[2], jids[1], at + 1]])
      expect(seen.first.keys).to start_with("retry", "queue")
      expect(seen.map(&:keys).uniq.size).to eq(1)
      seen.clear
      client.push_bulk("class" => ClientJob, "args" => [[3]], "jid" => "d" * 24)
      expect(seen.map { |job| [job["jid"], job.key?("at")] }).to eq([["d" * 24, false]])
    end

    # Ruby moves a Hash to a hash table at its ninth pair and grows the table later; a job Hash
    # with room made in advance takes a middleware's keys without either (docs/performance.md §6).
    it "gives each job Hash room for the keys a middleware adds, keeping the template's order", :native do
      require "objspace"
      growth = []
      stamper = Class.new do
        define_method(:call) do |_klass, job, _queue, _pool, &block|
          before = ObjectSpace.memsize_of(job)
          %w[request_id tenant trace].each { |key| job[key] = "#{key}-#{job["args"].first}" }
          growth << (ObjectSpace.memsize_of(job) - before)
          block.call
        end
      end
      client = described_class.new
      client.middleware { |chain| chain.add(stamper) }
      jids = client.push_bulk("class" => ClientJob, "args" => [[1], [2]])
      expect(growth).to eq([0, 0])
      jobs = queue_jobs("clientq").sort_by { |job| job["args"] }
      expect(jobs.map(&:keys).uniq)
        .to eq([%w[retry queue class args jid created_at request_id tenant trace enqueued_at]])
      expect(jobs.map { |job| job.values_at("jid", "request_id", "trace") })
        .to eq([[jids[0], "request_id-1", "trace-1"], [jids[1], "request_id-2", "trace-2"]])
    end

    # Each slice but the last is sent ahead of the next one's middleware (Client#send_ahead);
    # push_bulk returns once every slice is stored, and a slice's failure is raised by push_bulk.
    it "stores every slice before it returns, and raises a slice's failure", :native do
      client = described_class.new
      client.middleware { |chain| chain.add(gatekeeper) }
      args = Array.new(7) { |index| ["job-#{index}"] }
      jids = client.push_bulk("class" => ClientJob, "args" => args, "batch_size" => 3)
      expect(raw_queue("clientq").map { |json| JSON.parse(json).values_at("jid", "seen_by") }.reverse)
        .to eq(jids.map { |jid| [jid, "gatekeeper"] })

      # The middle slice, sent ahead, is refused; its failure is raised before the last slice
      # is sent.
      misroute_slice_of(client, ["job-3"])
      expect { client.push_bulk("class" => ClientJob, "args" => args, "batch_size" => 3) }
        .to raise_error(Ferrokiq::CommandError, /WRONGTYPE/)
      expect(raw_queue("clientq").size).to eq(7 + 3)
      expect(Ferrokiq::Native.settle_push).to be_nil
    end

    # A slice of 256 jobs or more is streamed to Redis in a MULTI while its chain runs
    # (Client#stream_slice); it is still stored whole or not at all.
    describe "a slice streamed while the chain runs", :native do
      let(:args) { Array.new(600) { |index| ["job-#{index}"] } }
      let(:client) { described_class.new.tap { |client| client.middleware { |chain| chain.add(gatekeeper) } } }


      it "stores nothing of a slice whose middleware raises after chunks were sent" do
        failing = Class.new do
          def call(_klass, job, _queue, _pool)
            raise ArgumentError, "no tenant" if job["args"] == ["job-500"]

            yield
          end
        end
        client.middleware { |chain| chain.add(failing) }
        expect { client.push_bulk("class" => ClientJob, "args" => args, "batch_size" => 300) }
          .to raise_error(ArgumentError, "no tenant")
        expect(queue_jobs("clientq").map { |job| job["args"].first }).to match_array(args.first(300).map(&:first))
        # The abandoned transaction's socket is reused for the next slice.
        more = Array.new(300) { |index| ["more-#{index}"] }
        expect(client.push_bulk("class" => ClientJob, "args" => more).compact.size).to eq(300)
        expect(raw_queue("clientq").size).to eq(600)
      end

      it "leaves refused jobs out and keeps the order and jids" do
        args[10] = ["stop"]
        transactions = command_calls("exec")
        jids = client.push_bulk("class" => ClientJob, "args" => args)
        expect(command_calls("exec") - transactions).to eq(1)
        expect(jids[10]).to be_nil
        stored = raw_queue("clientq").reverse.map { |json| JSON.parse(json) }
        expect(stored.map { |job| job["jid"] }).to eq(jids.compact)
        expect(stored.map { |job| job["seen_by"] }.uniq).to eq(["gatekeeper"])
      end

      it "raises a command's failure at EXEC, storing the rest of the push before it" do
        misroute_slice_of(client, ["job-300"])
        expect { client.push_bulk("class" => ClientJob, "args" => args, "batch_size" => 300) }
          .to raise_error(Ferrokiq::CommandError, /WRONGTYPE/)
        expect(raw_queue("clientq").size).to eq(300)
      end

      it "streams on a new socket when the kept one was closed, pushing every job once" do
        client.push_bulk("class" => ClientJob, "args" => args)
        # Closes every other client's socket, the transaction's kept one included.
        Sidekiq.redis { |conn| conn.call("CLIENT", "KILL", "TYPE", "normal") }
        transactions = command_calls("exec")
        client.push_bulk("class" => ClientJob, "args" => args)
        expect(command_calls("exec") - transactions).to eq(1)
        expect(raw_queue("clientq").size).to eq(1200)
      end

      it "hands a slice of scheduled jobs to the general path" do
        scheduler = Class.new do
          def call(_klass, job, _queue, _pool)
            job["at"] = 2_000_000_000
            yield
          end
        end
        client.middleware { |chain| chain.add(scheduler) }
        client.push_bulk("class" => ClientJob, "args" => args)
        expect(scheduled_jobs.size).to eq(600)
        expect(raw_queue("clientq")).to be_empty
      end

      it "hands a slice with a locked job to the general path, which takes its lock" do
        locker = Class.new do
          def call(_klass, job, _queue, _pool)
            job["lock"] = "until_executed" if job["args"] == ["job-599"]
            yield
          end
        end
        client.middleware { |chain| chain.add(locker) }
        client.push_bulk("class" => ClientJob, "args" => args)
        jids = client.push_bulk("class" => ClientJob, "args" => args)
        expect(jids.last).to be_nil
        expect(jids.compact.size).to eq(599)
        expect(raw_queue("clientq").size).to eq(1199)
      end
    end

    it "checks strict args per job after the middleware, writing nothing of a bad slice" do
      client = described_class.new
      client.middleware { |chain| chain.add(gatekeeper) }
      expect { client.push_bulk("class" => ClientJob, "args" => [["a"], ["stop", :skipped], ["b", :sym]]) }
        .to raise_error(ArgumentError, /but :sym is a Symbol/)
      expect(raw_queue("clientq")).to be_empty
      Sidekiq.strict_args!(:warn)
      expect { client.push_bulk("class" => ClientJob, "args" => [["a"], ["b", :sym]]) }
        .to output(/must be native JSON types, but :sym/).to_stderr
      expect(queue_jobs("clientq").map { |job| job["args"] }).to contain_exactly(["a"], %w[b sym])
    ensure
      Sidekiq.strict_args!
    end

    it "schedules every job at one `at`, without converting or dropping it" do
      described_class.push_bulk("class" => ClientJob, "args" => [[1], [2]], "at" => 1_000_000_000.5)
      expect(scheduled_jobs.map(&:last)).to eq([1_000_000_000.5, 1_000_000_000.5])
    end

    it "schedules each job at its own `at`", :native do
      at = Time.now.to_f + 100
      described_class.push_bulk("class" => ClientJob, "args" => [[1], [2]], "at" => [at, at + 10])
      by_arg = scheduled_jobs.to_h { |job, score| [job["args"].first, score] }
      expect(by_arg[1]).to be_within(0.001).of(at)
      expect(by_arg[2]).to be_within(0.001).of(at + 10)
    end

    it "returns [] for no args" do
      expect(described_class.push_bulk("class" => ClientJob, "args" => [])).to eq([])
    end

    it "uses a single explicit jid" do
      expect(described_class.push_bulk("class" => ClientJob, "args" => [[1]], "jid" => "f" * 24)).to eq(["f" * 24])
    end

    it "takes args from a lazy Enumerator that does not know its size, with per-job `at`s or one jid" do
      at = Time.now.to_f + 100
      lazy_args = (1..3).lazy.select(&:positive?).map { |i| [i] }
      expect(lazy_args.size).to be_nil
      jids = described_class.push_bulk("class" => ClientJob, "args" => lazy_args, "at" => [at, at + 1, at + 2])
      expect(scheduled_jobs.to_h { |job, score| [job["args"].first, [job["jid"], score.round(3)]] })
        .to eq((1..3).to_h { |i| [i, [jids[i - 1], (at + i - 1).round(3)]] })
      expect(described_class.push_bulk("class" => ClientJob, "args" => [[9]].lazy.select(&:any?), "jid" => "e" * 24)).to eq(["e" * 24])
      expect { described_class.push_bulk("class" => ClientJob, "args" => lazy_args, "at" => [at]) }
        .to raise_error(ArgumentError, "Job 'at' Array must have same size as 'args' Array")
      expect { described_class.push_bulk("class" => ClientJob, "args" => lazy_args, "jid" => "x") }
        .to raise_error(ArgumentError, /Explicitly passing 'jid'/)
    end

    it "rejects bad input with Sidekiq's messages" do
      expect { described_class.push_bulk("class" => ClientJob, "args" => [1, 2]) }
        .to raise_error(ArgumentError, "Bulk arguments must be an Array of Arrays: [[1], [2]]")
      expect { described_class.push_bulk("class" => ClientJob, "args" => [[1]], "at" => ["x"]) }
        .to raise_error(ArgumentError, "Job 'at' must be a Numeric or an Array of Numeric timestamps")
      expect { described_class.push_bulk("class" => ClientJob, "args" => [[1], [2]], "at" => [1.0]) }
        .to raise_error(ArgumentError, "Job 'at' Array must have same size as 'args' Array")
      expect { described_class.push_bulk("class" => ClientJob, "args" => [[1], [2]], "jid" => "x") }
        .to raise_error(ArgumentError, /Explicitly passing 'jid'/)
    end

    it "writes nothing of a slice when one job in it cannot be serialized" do
      Sidekiq.strict_args!(false)
      args = [[1], [Float::NAN], [3]]
      expect { described_class.push_bulk("class" => ClientJob, "args" => args) }.to raise_error(JSON::GeneratorError)
      expect(raw_queue("clientq")).to be_empty
    ensure
      Sidekiq.strict_args!
    end
  end

  describe ".via and pools" do
    let(:other_db) { Sidekiq::RedisConnection.create(url: REDIS.url(db: 3)) }

    after { other_db.with(&:flushdb) }

    it "sends pushes in the block to another pool, and only those" do
      described_class.via(other_db) { ClientJob.perform_async("sharded") }
      ClientJob.perform_async("main")
      expect(other_db.with { |conn| conn.llen("queue:clientq") }).to eq(1)
      expect(queue_jobs("clientq").map { |job| job["args"] }).to eq([["main"]])
    end

    it "accepts a pool through set(pool:) and Client.new(pool:)" do
      ClientJob.set(pool: other_db).perform_async(1)
      described_class.new(pool: other_db).push("class" => ClientJob, "args" => [2])
      expect(other_db.with { |conn| conn.llen("queue:clientq") }).to eq(2)
      expect(raw_queue("clientq")).to be_empty
    end

    it "refuses a nil pool" do
      expect { described_class.via(nil) { nil } }.to raise_error(ArgumentError, "No pool given")
    end
  end

  describe "Resque-style helpers" do
    it "enqueues to a named queue, now or later" do
      described_class.enqueue(ClientJob, 1)
      described_class.enqueue_to("named", ClientJob, 2)
      described_class.enqueue_to_in("named", 60, ClientJob, 3)
      described_class.enqueue_in(60, ClientJob, 4)
      expect(queue_jobs("clientq").map { |job| job["args"] }).to eq([[1]])
      expect(queue_jobs("named").map { |job| job["args"] }).to eq([[2]])
      expect(scheduled_jobs.map { |job, _| [job["queue"], job["args"]] })
        .to contain_exactly(["named", [3]], ["clientq", [4]])
    end
  end
end
