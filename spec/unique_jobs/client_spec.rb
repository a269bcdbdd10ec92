# frozen_string_literal: true

require "sidekiq/api"
require "sidekiq_unique_jobs"

# Locks taken at push (docs/design.md, §24), against the test redis-server.
RSpec.describe "Unique jobs on the client" do # rubocop:disable Metrics/BlockLength
  UNIQUE_CLIENT_JOBS = <<~RUBY # rubocop:disable Lint/ConstantDefinitionInBlock
    class UntilExecutedJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed
      def perform(*); end
    end

    class LoggedConflictJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed, on_conflict: :log
      def perform(*); end
    end

    class RaisingConflictJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executing, on_conflict: { client: :raise, server: :log }
      def perform(*); end
    end

    class RejectedConflictJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed, on_conflict: :reject
      def perform(*); end
    end

    class ReplacingJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed, on_conflict: :replace
      def perform(*); end
    end

    class FirstArgJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed
      def self.lock_args(args) = [args.first]
      def perform(*); end
    end

    class LimitedJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed, lock_limit: 2
      def perform(*); end
    end

    class WhileExecutingJob
      include Sidekiq::Job
      sidekiq_options lock: :while_executing
      def perform(*); end
    end
  RUBY

  before(:all) { eval(UNIQUE_CLIENT_JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  # The setter merges, so the defaults are put back as they were, not assigned over.
  around do |example|
    saved = Sidekiq.default_job_options
    example.run
  ensure
    Sidekiq.instance_variable_set(:@default_job_options, saved)
    Ferrokiq::UniqueJobs.reset_settings!
  end

  def queued(queue = "default")
    Sidekiq.redis { |conn| conn.lrange("queue:#{queue}", 0, -1) }.map { |json| JSON.parse(json) }
  end

  def redis(*command)
    Sidekiq.redis { |conn| conn.call(*command) }
  end

  # The plugin's digest, written out: MD5 of the sorted class/lock_args/queue pairs.
  def digest_of(job_class, lock_args)
    pairs = [["class", job_class], ["lock_args", lock_args], %w[queue default]]
    "uniquejobs:#{Digest::MD5.hexdigest(JSON.generate(pairs))}"
  end

  it "computes sidekiq-unique-jobs 8's digest and writes its payload fields" do
    jid = UntilExecutedJob.perform_async(1, "a")
    expect(queued.first).to include("jid" => jid, "lock" => "until_executed", "lock_args" => [1, "a"],
                                    "lock_prefix" => "uniquejobs", "lock_timeout" => 0.0, "lock_ttl" => 86_400,
                                    "lock_digest" => digest_of("UntilExecutedJob", [1, "a"]))
  end

  it "matches the reference's digest vector" do
    item = { "class" => "MyJob", "queue" => "default", "args" => [1, "a"], "lock" => "until_executed" }
    request = Ferrokiq::UniqueJobs::LockRequest.new(item, :until_executed).write_fields!(Time.now.to_f)
    expect(request.digest).to eq("uniquejobs:80d4ccd5ffe93c8b9644227f32ff5063")
  end

  # The digest's JSON is written in Rust (JSON.generate for what it cannot write exactly): the
  # plugin's own formula, JSON.generate(digestable.sort), over values that stress the writer.
  it "digests every kind of argument exactly as the plugin's JSON.generate does" do
    values = [0, -1, 2**62, 2**64, 1.0, -0.0, 0.1, 1e20, 1e16, 1.5e-7, 123_456_789.123456789, 2.5e-300, 1e100,
              "", "é", "日本語", "😀", "\u2028\u2029", %("quote\\back\nline\ttab\u0001\u001f/), "\x7f",
              nil, true, false, [], {}, [1, [2, [3.5]]], { "k" => { "n" => [nil, "v"] } }, { "é" => "ü" },
              :sym, "bin".b, 10**30]
    values.each_slice(3).with_index do |args, index|
      item = { "class" => "DigestJob#{index}", "queue" => "q", "args" => args, "lock" => "until_executed" }
      item["apartment"] = "tenant" if index.odd?
      expected_pairs = item.slice("class", "queue", "apartment").merge("lock_args" => args).sort
      expected = "uniquejobs:#{Digest::MD5.hexdigest(JSON.generate(expected_pairs))}"
      request = Ferrokiq::UniqueJobs::LockRequest.new(item, :until_executed).write_fields!(Time.now.to_f)
      expect(request.digest).to eq(expected), "args #{args.inspect}"
    end
    across = { "class" => "AcrossJob", "queue" => "q", "args" => [1.25], "unique_across_queues" => true,
               "unique_across_workers" => true }
    request = Ferrokiq::UniqueJobs::LockRequest.new(across, :until_executed).write_fields!(Time.now.to_f)
    expect(request.digest).to eq("uniquejobs:#{Digest::MD5.hexdigest(JSON.generate([["lock_args", [1.25]]]))}")
  end

  # Counts start after a push has loaded the script (a first EVALSHA meets NOSCRIPT).
  def reset_stats_with_script_loaded
    UntilExecutedJob.perform_async("warm-up")
    redis("DEL", "queue:default")
    redis("CONFIG", "RESETSTAT")
  end

  # The round trips made in the block, by method: every request of the Ruby side goes through
  # one of these, one round trip each.
  def round_trips
    made = []
    %i[call pipeline push schedule push_bulk lock_and_push push_bulk_locked].each do |name|
      allow_any_instance_of(Ferrokiq::Native::Redis).to receive(name).and_wrap_original do |original, *args|
        made << name
        original.call(*args)
      end
    end
    yield
    made
  end

  # sidekiq-unique-jobs 8.1's queue_and_lock: the lock and the push are one script.
  it "takes the lock and stores a single job in one round trip, with the payload Ruby writes" do
    reset_stats_with_script_loaded
    jid = nil
    expect(round_trips { jid = UntilExecutedJob.perform_async(3, "é", 1.5) }).to eq([:lock_and_push])
    stats = redis("INFO", "commandstats")
    calls = ->(name) { stats[/^cmdstat_#{name}:calls=(\d+)/, 1].to_i }
    expect(calls["evalsha"] + calls["eval"]).to eq(1)
    expect([calls["lpush"], calls["sadd"], calls["hset"]]).to eq([1, 1, 1])
    stored = redis("LRANGE", "queue:default", 0, -1)
    expect(stored.size).to eq(1)
    payload = JSON.parse(stored.first)
    expect(stored.first).to eq(JSON.generate(payload))
    expect(payload.keys).to eq(%w[retry queue lock args class jid created_at lock_timeout lock_ttl lock_prefix
                                  lock_args lock_digest enqueued_at])
    expect(payload).to include("jid" => jid, "args" => [3, "é", 1.5])
    expect(UntilExecutedJob.perform_in(60, 3, "é", 1.5)).to be_nil
    expect(redis("ZCARD", "schedule")).to eq(0)
  end

  it "schedules a job with its lock in one script, and locks a slice with one script per slice" do
    reset_stats_with_script_loaded
    at = Time.now.to_f + 600
    jid = jids = nil
    made = round_trips do
      jid = UntilExecutedJob.perform_at(at, 8)
      jids = UntilExecutedJob.perform_bulk([[9], [10], [9]], batch_size: 2)
    end
    expect(made).to eq(%i[lock_and_push push_bulk_locked push_bulk_locked])
    stats = redis("INFO", "commandstats")
    expect(stats.scan(/^cmdstat_eval(?:sha)?:calls=(\d+)/).sum { |(count)| count.to_i }).to eq(3)
    member, score = redis("ZRANGE", "schedule", 0, -1, "WITHSCORES").flatten
    expect(JSON.parse(member)).to include("jid" => jid)
    expect(JSON.parse(member)).not_to include("at", "enqueued_at")
    expect(score.to_f).to be_within(0.001).of(at)
    expect(jids[0..1]).to all(be_a(String))
    expect(jids[2]).to be_nil
    expect(queued.map { |job| job["args"] }).to eq([[10], [9]])
  end

  describe "lock_limit" do # rubocop:disable Metrics/BlockLength
    it "lets up to lock_limit jobs hold one digest, in single and bulk pushes" do
      first = LimitedJob.perform_async(1)
      second = LimitedJob.perform_async(1)
      expect([first, second]).to all(be_a(String))
      expect(LimitedJob.perform_async(1)).to be_nil
      digest = queued.first["lock_digest"]
      expect(redis("HKEYS", "#{digest}:LOCKED")).to contain_exactly(first, second)
      expect(queued.first).to include("lock_limit" => 2)
      jids = LimitedJob.perform_bulk([[2], [2], [2], [3]])
      expect(jids.map(&:class)).to eq([String, String, NilClass, String])
      expect(queued.size).to eq(5)
    end

    it "counts a Ruby plugin process's holders in the :LOCKED hash" do
      redis("HSET", "#{digest_of("LimitedJob", [4])}:LOCKED", "a" * 24, Time.now.to_f.to_s)
      expect(LimitedJob.perform_async(4)).to be_a(String)
      expect(LimitedJob.perform_async(4)).to be_nil
      expect(redis("HLEN", "#{digest_of("LimitedJob", [4])}:LOCKED")).to eq(2)
    end

    it "keeps each holder's lock until the last of them is released" do
      first = LimitedJob.perform_async(5)
      second = LimitedJob.perform_async(5)
      digest = queued.first["lock_digest"]
      Sidekiq.redis { |conn| Ferrokiq::UniqueJobs::Scripts.release(conn, [[digest, first]]) }
      expect(redis("HKEYS", "#{digest}:LOCKED")).to eq([second])
      expect(redis("ZSCORE", "uniquejobs:digests", digest)).not_to be_nil
      expect(LimitedJob.perform_async(5)).to be_a(String)
      expect(LimitedJob.perform_async(5)).to be_nil
    end
  end

  describe "lock_info" do # rubocop:disable Metrics/BlockLength
    def info_of(digest)
      JSON.parse(redis("GET", "#{digest}:INFO"))
    end

    it "writes the plugin's :INFO record with the lock's TTL when set globally, and drops it with the lock" do
      SidekiqUniqueJobs.configure { |config| config.lock_info = true }
      at = Time.now.to_f + 120
      jid = UntilExecutedJob.perform_at(at, 1, "a")
      digest = JSON.parse(redis("ZRANGE", "schedule", 0, -1).first)["lock_digest"]
      info = info_of(digest)
      expect(info.keys).to eq(%w[worker queue limit timeout ttl type lock_args time at])
      expect(info).to include("worker" => "UntilExecutedJob", "queue" => "default", "limit" => nil, "timeout" => 0.0,
                              "ttl" => 86_400, "type" => "until_executed", "lock_args" => [1, "a"])
      expect(info["at"]).to be_within(0.001).of(at)
      expect(info["time"]).to be_within(60).of(Time.now.to_f)
      expect(redis("PTTL", "#{digest}:INFO")).to be_within(1000).of(redis("PTTL", "#{digest}:LOCKED"))
      expect(redis("PTTL", "#{digest}:INFO")).to be > 86_400_000
      Sidekiq.redis { |conn| Ferrokiq::UniqueJobs::Scripts.release(conn, [[digest, jid]]) }
      expect(redis("EXISTS", "#{digest}:INFO")).to eq(0)
    end

    it "follows the job's own lock_info over the global setting, in bulk pushes too" do
      jids = Sidekiq::Client.push_bulk("class" => "InfoJob", "args" => [[1], [2]], "lock" => "until_executing",
                                       "lock_info" => true, "lock_limit" => 3)
      digests = queued.map { |job| job["lock_digest"] }
      expect(digests.map { |digest| info_of(digest).values_at("worker", "type", "limit") })
        .to eq([["InfoJob", "until_executing", 3]] * 2)
      expect(jids).to all(be_a(String))
      UntilExecutedJob.perform_async(9)
      expect(redis("EXISTS", "#{queued.first["lock_digest"]}:INFO")).to eq(0)
      SidekiqUniqueJobs.configure { |config| config.lock_info = true }
      Sidekiq::Client.push("class" => "InfoJob", "args" => [3], "lock" => "until_executed", "lock_info" => false)
      expect(redis("EXISTS", "#{queued.first["lock_digest"]}:INFO")).to eq(0)
    end
  end

  # With no client middleware a bulk slice's locked jobs are written in Rust, digest included;
  # through the middleware each gets a Ruby Hash. Both must store the same bytes.
  it "writes a bulk push's locked jobs in Rust exactly as the general path does" do
    passing = Class.new { def call(*) = yield }
    chain = Sidekiq::Middleware::Chain.new.tap { |middleware| middleware.add(passing) }
    args = [[1, "é", 2.5, { "k" => [nil, true, -0.0] }], [2**40, 1e20], [%("\\\u2028\u0001)], [[]]]
    volatile = %w[jid created_at enqueued_at]
    stored = lambda do |client|
      redis("FLUSHDB")
      jids = client.push_bulk("class" => UntilExecutedJob, "args" => args + [args.first])
      expect(jids.map(&:class)).to eq([String] * 4 + [NilClass])
      redis("LRANGE", "queue:default", 0, -1).reverse.map do |raw|
        expect(raw).to eq(JSON.generate(JSON.parse(raw)))
        JSON.parse(raw).map { |key, value| [key, volatile.include?(key) ? key : value] }
      end
    end
    expect(Ferrokiq::UniqueJobs::LockRequest).to receive(:new).once.and_call_original
    fast = stored.call(Sidekiq::Client.new)
    RSpec::Mocks.space.proxy_for(Ferrokiq::UniqueJobs::LockRequest).reset
    expect(stored.call(Sidekiq::Client.new(chain:))).to eq(fast)
    digests = args.map { |job_args| digest_of("UntilExecutedJob", job_args) }
    expect(fast.map { |pairs| pairs.to_h["lock_digest"] }).to eq(digests)
  end

  it "logs the jobs a Rust-written bulk push left out with on_conflict: :log" do
    logged = StringIO.new
    SidekiqUniqueJobs.configure { |config| config.logger = Logger.new(logged) }
    held = LoggedConflictJob.perform_async(1)
    jids = LoggedConflictJob.perform_bulk([[1], [2]])
    expect(jids[0]).to be_nil
    expect(logged.string).to include("because lock_digest: (#{digest_of("LoggedConflictJob", [1])}) already exists")
    expect(logged.string).not_to include(held)
    expect(queued.size).to eq(2)
  end

  it "keeps the lock in the plugin's keys, with a finite TTL" do
    jid = UntilExecutedJob.perform_async(1)
    digest = queued.first["lock_digest"]
    expect(redis("GET", digest)).to eq(jid)
    expect(redis("HKEYS", "#{digest}:LOCKED")).to eq([jid])
    expect(redis("ZSCORE", "uniquejobs:digests", digest)).not_to be_nil
    expect(redis("TTL", "#{digest}:LOCKED")).to be_between(1, 86_400)
  end

  it "drops a duplicate and returns nil, without a word by default" do
    first = UntilExecutedJob.perform_async(1)
    expect(UntilExecutedJob.perform_async(1)).to be_nil
    expect(UntilExecutedJob.perform_async(2)).to be_a(String)
    expect(queued.map { |job| job["jid"] }).to include(first)
    expect(queued.size).to eq(2)
  end

  it "takes the lock for a scheduled job until its time plus the TTL" do
    UntilExecutedJob.perform_in(3600, 1)
    expect(UntilExecutedJob.perform_async(1)).to be_nil
    digest = JSON.parse(redis("ZRANGE", "schedule", 0, -1).first)["lock_digest"]
    expect(redis("PTTL", "#{digest}:LOCKED")).to be > 86_400_000
    expect(redis("ZSCORE", "uniquejobs:digests", digest).to_f).to be > Time.now.to_f + 3000
  end

  it "applies lock: from default_job_options, as the configuration guide sets it" do
    Sidekiq.default_job_options = { "retry" => true, "queue" => "default", "lock" => :until_executed }
    expect(Sidekiq::Client.push("class" => "SomePlainJob", "args" => [7])).to be_a(String)
    expect(Sidekiq::Client.push("class" => "SomePlainJob", "args" => [7])).to be_nil
  end

  it "honours a lock taken by a Ruby plugin process (the :LOCKED hash)" do
    redis("HSET", "#{digest_of("UntilExecutedJob", [5])}:LOCKED", "a" * 24, Time.now.to_f.to_s)
    expect(UntilExecutedJob.perform_async(5)).to be_nil
  end

  it "digests what lock_args makes of the args" do
    expect(FirstArgJob.perform_async(1, "x")).to be_a(String)
    expect(FirstArgJob.perform_async(1, "y")).to be_nil
    expect(queued.first["lock_args"]).to eq([1])
  end

  it "reads lock_prefix and the global settings from SidekiqUniqueJobs.configure" do
    SidekiqUniqueJobs.configure do |config|
      config.lock_prefix = "mine"
      config.lock_ttl = 60
    end
    UntilExecutedJob.perform_async(1)
    job = queued.first
    expect(job["lock_digest"]).to start_with("mine:")
    expect(redis("TTL", "#{job["lock_digest"]}:LOCKED")).to be_between(1, 60)
  end

  it "takes no lock at push for while_executing, but writes the digest" do
    WhileExecutingJob.perform_async(1)
    expect(WhileExecutingJob.perform_async(1)).to be_a(String)
    expect(queued.map { |job| job["lock_digest"] }.uniq.size).to eq(1)
    expect(redis("ZCARD", "uniquejobs:digests")).to eq(0)
  end

  it "logs a conflict with on_conflict: :log" do
    output = StringIO.new
    SidekiqUniqueJobs.configure { |config| config.logger = Logger.new(output) }
    LoggedConflictJob.perform_async(1)
    dropped = LoggedConflictJob.perform_async(1)
    expect(dropped).to be_nil
    digest = Regexp.escape(digest_of("LoggedConflictJob", [1]))
    expect(output.string).to match(/Skipping job with id \(\h{24}\) because lock_digest: \(#{digest}\) already exists/)
  end

  it "raises SidekiqUniqueJobs::Conflict with on_conflict: { client: :raise }" do
    RaisingConflictJob.perform_async(1)
    expect { RaisingConflictJob.perform_async(1) }.to raise_error(SidekiqUniqueJobs::Conflict, /is held by another job/)
  end

  it "puts the duplicate in the dead set with on_conflict: :reject" do
    RejectedConflictJob.perform_async(1)
    expect(RejectedConflictJob.perform_async(1)).to be_nil
    expect(Sidekiq::DeadSet.new.map { |entry| entry.item["class"] }).to eq(["RejectedConflictJob"])
    expect(Sidekiq::DeadSet.new.first.item).not_to include("enqueued_at")
  end

  it "replaces the waiting job with on_conflict: :replace" do
    first = ReplacingJob.perform_async(1)
    second = ReplacingJob.perform_async(1)
    expect(second).to be_a(String)
    expect(queued.map { |job| job["jid"] }).to eq([second])
    expect(redis("HKEYS", "#{queued.first["lock_digest"]}:LOCKED")).to eq([second])
    expect(first).not_to eq(second)
  end

  it "locks each job of a bulk push" do
    jids = UntilExecutedJob.perform_bulk([[1], [2], [1]])
    expect(jids[0..1]).to all(be_a(String))
    expect(jids[2]).to be_nil
    expect(queued.size).to eq(2)
  end

  # A slice takes its locks in one script call; conflicts are settled after it, in order.
  it "replaces a waiting job from within a bulk push" do
    ReplacingJob.perform_async(1)
    jids = ReplacingJob.perform_bulk([[1], [2]])
    expect(jids).to all(be_a(String))
    expect(queued.to_h { |job| [job["args"], job["jid"]] }).to eq([1] => jids[0], [2] => jids[1])
  end

  it "stores nothing of a bulk slice whose conflict raises, and leaves none of its locks" do
    held = RaisingConflictJob.perform_async(2)
    expect { RaisingConflictJob.perform_bulk([[1], [2], [3]]) }.to raise_error(SidekiqUniqueJobs::Conflict)
    expect(queued.map { |job| job["jid"] }).to eq([held])
    expect(redis("KEYS", "uniquejobs:*:LOCKED").map { |key| redis("HKEYS", key) }).to eq([[held]])
  end

  describe "deletion through the Data API" do # rubocop:disable Metrics/BlockLength
    def holders(digest)
      redis("HKEYS", "#{digest}:LOCKED")
    end

    it "releases the lock of a job deleted from its queue, and on Queue#clear" do
      jid = UntilExecutedJob.perform_async(1)
      UntilExecutedJob.perform_async(2)
      digests = queued.map { |job| job["lock_digest"] }
      Sidekiq::Queue.new.find_job(jid).delete
      expect(holders(digests.last)).to be_empty
      expect(holders(digests.first)).not_to be_empty
      Sidekiq::Queue.new.clear
      expect(redis("KEYS", "uniquejobs:*")).to be_empty
    end

    it "releases the lock of a job deleted from a queue page of the Web UI" do
      require "sidekiq/web"
      require "rack/test"
      UntilExecutedJob.perform_async(4)
      job = Sidekiq.redis { |conn| conn.lrange("queue:default", 0, -1) }.first
      session = Rack::Test::Session.new(Rack::Builder.new do
        use Rack::Session::Cookie, secret: "s" * 64
        run Sidekiq::Web
      end)
      token = session.get("/queues/default").body[/name="authenticity_token" value="([^"]+)"/, 1]
      session.post("/queues/default/delete", "key_val" => job, "authenticity_token" => token)
      expect(queued).to be_empty
      expect(UntilExecutedJob.perform_async(4)).to be_a(String)
    end

    it "releases the lock of a scheduled job deleted, and on ScheduledSet#clear" do
      jid = UntilExecutedJob.perform_in(60, 1)
      UntilExecutedJob.perform_in(60, 2)
      Sidekiq::ScheduledSet.new.find_job(jid).delete
      expect(UntilExecutedJob.perform_async(1)).to be_a(String)
      expect(UntilExecutedJob.perform_in(60, 2)).to be_nil
      Sidekiq::ScheduledSet.new.clear
      expect(UntilExecutedJob.perform_in(60, 2)).to be_a(String)
    end

    # A job without the plugin's fields takes its lock on the server; its retry, made from the
    # payload as fetched, still has no fields, so the deletion computes the digest again.
    it "releases the lock a retry without the plugin's fields took on the server" do
      UntilExecutedJob.perform_async(5)
      digest = queued.first["lock_digest"]
      Sidekiq::Queue.new.clear
      retrying = { "class" => "UntilExecutedJob", "args" => [5], "queue" => "default", "lock" => "until_executed",
                   "jid" => "f" * 24, "retry_count" => 0, "failed_at" => Time.now.to_f, "error_class" => "E" }
      Sidekiq.redis { |conn| conn.call("ZADD", "retry", Time.now.to_f + 60, Sidekiq.dump_json(retrying)) }
      now = Time.now.to_f
      Sidekiq.redis { |conn| Ferrokiq::UniqueJobs::Scripts.lock(conn, [[digest, "f" * 24, 0, now, now, 1, ""]]) }
      expect(holders(digest)).to eq(["f" * 24])
      Sidekiq::RetrySet.new.first.delete
      expect(holders(digest)).to be_empty
    end

    it "keeps another job's hold: only the deleted job's own lock goes" do
      UntilExecutedJob.perform_async(1)
      digest = queued.first["lock_digest"]
      stale = { "class" => "UntilExecutedJob", "args" => [1], "queue" => "default", "jid" => "e" * 24,
                "lock" => "until_executed", "lock_digest" => digest }
      Sidekiq.redis { |conn| conn.call("ZADD", "schedule", Time.now.to_f + 60, Sidekiq.dump_json(stale)) }
      Sidekiq::ScheduledSet.new.first.delete
      expect(holders(digest)).to eq([queued.first["jid"]])
    end

    it "keeps the lock when a retry is run now (the same jid takes it again)" do
      job = { "class" => "UntilExecutedJob", "args" => [3], "queue" => "default", "lock" => "until_executed",
              "jid" => "d" * 24, "retry_count" => 0, "failed_at" => Time.now.to_f, "error_class" => "E" }
      UntilExecutedJob.perform_async(3)
      pushed = queued.first
      Sidekiq::Queue.new.clear
      UntilExecutedJob.perform_async(3)
      retrying = job.merge("jid" => queued.first["jid"], "lock_digest" => pushed["lock_digest"])
      Sidekiq.redis do |conn|
        conn.call("DEL", "queue:default")
        conn.call("ZADD", "retry", Time.now.to_f + 60, Sidekiq.dump_json(retrying))
      end
      Sidekiq::RetrySet.new.first.retry
      expect(holders(pushed["lock_digest"])).to eq([retrying["jid"]])
      expect(UntilExecutedJob.perform_async(3)).to be_nil
    end
  end
end
