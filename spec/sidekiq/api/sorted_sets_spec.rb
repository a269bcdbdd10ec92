# frozen_string_literal: true

require "sidekiq/api"

RSpec.describe "Sidekiq sorted sets (ScheduledSet, RetrySet, DeadSet)" do
  let(:config) { Sidekiq.default_configuration }
  let(:deaths) { [] }
  let(:death_handler) { ->(job, ex) { deaths << [job["jid"], ex.class, ex.message] } }

  before { config.death_handlers << death_handler }

  after do
    config.death_handlers.delete(death_handler)
    config[:dead_max_jobs] = Sidekiq::Config::DEFAULTS[:dead_max_jobs]
    config[:dead_timeout_in_seconds] = Sidekiq::Config::DEFAULTS[:dead_timeout_in_seconds]
  end

  def payload(jid, **fields)
    Sidekiq.dump_json({ "class" => "SetJob", "args" => [jid], "queue" => "default", "jid" => jid,
                        "retry" => true, "created_at" => 1_700_000_000.5 }.merge(fields.transform_keys(&:to_s)))
  end

  def zadd(set, score, member)
    Sidekiq.redis { |conn| conn.call("ZADD", set, score.to_s, member) }
  end

  def members(set)
    Sidekiq.redis { |conn| conn.call("ZRANGE", set, 0, -1, "WITHSCORES") }
  end

  def jid(index)
    format("%024x", index)
  end

  describe "#each" do
    it "yields every entry, highest score first, across pages" do
      120.times { |i| zadd("retry", 1000 + i, payload(jid(i))) }
      entries = Sidekiq::RetrySet.new.to_a
      expect(entries.map(&:jid)).to eq(Array.new(120) { |i| jid(119 - i) })
      expect(entries.first.score).to eq(1119.0)
      expect(entries.first.parent.name).to eq("retry")
    end

    it "does not skip entries when the block deletes them" do
      120.times { |i| zadd("schedule", 1000 + i, payload(jid(i))) }
      set = Sidekiq::ScheduledSet.new
      expect(set.count(&:delete)).to eq(120)
      expect(set.size).to eq(0)
    end

    it "does not skip entries when the block retries them" do
      60.times { |i| zadd("retry", 1000 + i, payload(jid(i), retry_count: 2)) }
      Sidekiq::RetrySet.new.each(&:retry)
      expect(members("retry")).to be_empty
      expect(queue_jobs.size).to eq(60)
    end
  end

  it "reports size, scans by substring or glob, and clears" do
    zadd("dead", 1, payload("aaa1"))
    zadd("dead", 2, payload("bbb2"))
    set = Sidekiq::DeadSet.new
    expect(set.size).to eq(2)
    expect(set.scan("bbb").map(&:jid)).to eq(["bbb2"])
    expect(set.scan("*aaa1*").map(&:score)).to eq([1.0])
    expect(set.scan("zzz").to_a).to be_empty
    expect(set.clear).to be(true)
    expect(set.size).to eq(0)
  end

  describe "#fetch" do
    before do
      zadd("schedule", 10.5, payload("j1"))
      zadd("schedule", 10.5, payload("j2"))
      zadd("schedule", 20.25, payload("j3"))
    end

    let(:set) { Sidekiq::ScheduledSet.new }

    it "finds entries at a score, optionally by jid" do
      expect(set.fetch(10.5).map(&:jid)).to contain_exactly("j1", "j2")
      expect(set.fetch(10.5, "j2").map(&:jid)).to eq(["j2"])
      expect(set.fetch(Time.at(20.25)).map(&:jid)).to eq(["j3"])
      expect(set.fetch(11)).to be_empty
    end

    it "finds entries in a Range of scores or Times" do
      expect(set.fetch(10..20.25).map(&:jid)).to eq(%w[j1 j2 j3])
      expect(set.fetch(10...20.25).map(&:jid)).to eq(%w[j1 j2])
      expect(set.fetch(Time.at(15)..).map(&:jid)).to eq(["j3"])
    end
  end

  describe "#find_job" do
    it "finds one job by jid in a 100,000-entry retry set, in Rust" do
      Sidekiq.redis do |conn|
        conn.call("EVAL", <<~LUA, 1, "retry", 100_000)
          for i = 1, tonumber(ARGV[1]) do
            local job = string.format('{"class":"BigJob","args":[%d],"jid":"%024x","retry":true}', i, i)
            redis.call("ZADD", KEYS[1], 1700000000 + i, job)
          end
        LUA
      end
      zadd("retry", 1, payload("decoy", args: [jid(77_777)]))
      expect(Ferrokiq::Scan).not_to receive(:sorted_set_pairs)
      set = Sidekiq::RetrySet.new
      expect(set.size).to eq(100_001)

      entry = set.find_job(jid(77_777))
      expect(entry.args).to eq([77_777])
      expect(entry.score).to eq(1_700_077_777.0)
      expect(entry.value).to eq(%({"class":"BigJob","args":[77777],"jid":"#{jid(77_777)}","retry":true}))
      expect(set.find_job(jid(100_001))).to be_nil
    end

    it "searches in Ruby when the connection has no native side" do
      zadd("dead", 5, payload("decoy", args: ["target-jid"]))
      zadd("dead", 6, payload("target-jid"))
      plain = Object.new
      Sidekiq.redis { |conn| plain.define_singleton_method(:call) { |*words| conn.call(*words) } }
      expect(Ferrokiq::Scan.find_in_sorted_set(plain, "dead", "target-jid")).to eq([payload("target-jid"), 6.0])
      expect(Ferrokiq::Scan.find_in_sorted_set(plain, "dead", "nope")).to be_nil
      Sidekiq.redis { |conn| conn.call("LPUSH", "queue:q", payload("target-jid"), payload("other")) }
      expect(Ferrokiq::Scan.find_in_list(plain, "queue:q", "target-jid")).to eq(payload("target-jid"))
    end
  end

  it "schedules a Hash at a Time, scored with the Float nearest to it" do
    at = Time.now + 60
    Sidekiq::ScheduledSet.new.schedule(at, JSON.parse(payload("s1")))
    expect(members("schedule")).to eq([[payload("s1"), at.to_r.to_f]])
  end

  describe Sidekiq::SortedEntry do
    it "knows its time, and deletes only itself when others share its score" do
      zadd("schedule", 1_700_000_000.5, payload("a"))
      zadd("schedule", 1_700_000_000.5, payload("b"))
      entry = Sidekiq::ScheduledSet.new.find_job("a")
      expect(entry.at).to eq(Time.at(1_700_000_000.5).utc)
      expect(entry.delete).to eq(1)
      expect(members("schedule")).to eq([[payload("b"), 1_700_000_000.5]])
      expect(entry.delete).to eq(0)
    end

    it "reschedules without duplicating the job, and not after it left" do
      zadd("schedule", 100, payload("r"))
      entry = Sidekiq::ScheduledSet.new.find_job("r")
      later = 1_800_000_000.25
      expect(entry.reschedule(later)).to eq(later)
      expect(members("schedule")).to eq([[payload("r"), later]])
      expect(entry.at).to eq(Time.at(later).utc)
      entry.reschedule(Time.at(1_900_000_000))
      expect(members("schedule")).to eq([[payload("r"), 1_900_000_000.0]])
      entry.delete
      expect(entry.reschedule(later)).to be_nil
      expect(members("schedule")).to be_empty
    end

    it "refuses a time that is not one, changing nothing" do
      zadd("schedule", 100, payload("r"))
      entry = Sidekiq::ScheduledSet.new.find_job("r")
      [nil, "tomorrow", Float::NAN].each do |bad|
        expect { entry.reschedule(bad) }.to raise_error(ArgumentError, /Time or epoch seconds/)
        expect { Sidekiq::ScheduledSet.new.schedule(bad, {}) }.to raise_error(ArgumentError)
      end
      expect(members("schedule")).to eq([[payload("r"), 100.0]])
    end

    it "adds a scheduled job to its queue now" do
      zadd("schedule", Time.now.to_f + 600, payload("q1", queue: "low"))
      Sidekiq::ScheduledSet.new.find_job("q1").add_to_queue
      expect(members("schedule")).to be_empty
      job = queue_jobs("low").first
      expect(job).to include("jid" => "q1", "class" => "SetJob", "created_at" => 1_700_000_000.5)
      expect(job["enqueued_at"]).to be_a(Float)
    end

    it "retries without counting a retry" do
      zadd("retry", 10, payload("t1", retry_count: 3, error_message: "boom"))
      Sidekiq::RetrySet.new.find_job("t1").retry
      expect(members("retry")).to be_empty
      expect(queue_jobs.first).to include("jid" => "t1", "retry_count" => 2, "error_message" => "boom")
    end

    it "kills into the dead set and tells the death handlers" do
      zadd("retry", 10, payload("k1"))
      Sidekiq::RetrySet.new.find_job("k1").kill
      expect(members("retry")).to be_empty
      expect(members("dead").map(&:first)).to eq([payload("k1")])
      expect(deaths).to eq([["k1", RuntimeError, "Job killed by API"]])
    end

    it "keeps the job in its set when pushing it fails" do
      zadd("retry", 10, payload("f1"))
      failing = Class.new do
        def call(*)
          raise "middleware down"
        end
      end
      config.client_middleware.add(failing)
      entry = Sidekiq::RetrySet.new.find_job("f1")
      expect { entry.retry }.to raise_error(RuntimeError, "middleware down")
      expect(members("retry")).to eq([[payload("f1"), 10.0]])
    ensure
      config.client_middleware.remove(failing)
    end

    it "works by jid and score for an entry built from a Hash" do
      zadd("retry", 42, payload("h1"))
      zadd("retry", 42, payload("h2"))
      entry = described_class.new(Sidekiq::RetrySet.new, 42, JSON.parse(payload("h1", retry_count: 1)))
      entry.retry
      expect(members("retry")).to eq([[payload("h2"), 42.0]])
      expect(queue_jobs.map { |job| job["jid"] }).to eq(["h1"])
    end

    it "tells whether the job failed" do
      expect(described_class.new(nil, 1, payload("e", error_class: "RuntimeError")).error?).to be(true)
      expect(described_class.new(nil, 1, payload("e")).error?).to be(false)
    end
  end

  describe "bulk moves" do
    before { 3.times { |i| zadd("retry", 10 + i, payload(jid(i), retry_count: 5)) } }

    it "retries everything, oldest first, without counting retries" do
      Sidekiq::RetrySet.new.retry_all
      expect(members("retry")).to be_empty
      expect(queue_jobs.reverse.map { |job| [job["jid"], job["retry_count"]] })
        .to eq([[jid(0), 4], [jid(1), 4], [jid(2), 4]])
    end

    it "kills everything without death handlers by default, trimming once" do
      config[:dead_max_jobs] = 3
      Sidekiq::RetrySet.new.kill_all
      expect(members("retry")).to be_empty
      expect(members("dead").map { |json, _| JSON.parse(json)["jid"] }).to eq([jid(1), jid(2)])
      expect(deaths).to be_empty
    end

    it "kills everything with death handlers when asked" do
      Sidekiq::RetrySet.new.kill_all(notify_failure: true, ex: ArgumentError.new("bulk"))
      expect(deaths.map(&:last)).to eq(%w[bulk bulk bulk])
      expect(members("dead").size).to eq(3)
    end
  end

  describe "when Redis or a push fails midway" do
    let(:reported) { [] }

    before { allow(config).to receive(:handle_exception) { |ex, ctx| reported << [ex.message, ctx] } }

    # These break one job's push or kill, which only the job-by-job path makes: the batched
    # path (Sidekiq::BulkMove) has its own specs in spec/sidekiq/api/bulk_move_spec.rb.
    before do
      allow(Sidekiq::BulkMove).to receive(:to_queues).and_return(nil)
      allow(Sidekiq::BulkMove).to receive(:to_dead).and_return(nil)
    end

    # Makes Redis refuse +command+ (on +key+ only, when given) as if the connection dropped then.
    def break_redis(command, message, key: nil)
      allow_any_instance_of(Ferrokiq::RedisConnection).to receive(:call).and_wrap_original do |original, *words, &block|
        raise Ferrokiq::ConnectionError, message if words[0].to_s.casecmp?(command) && (key.nil? || words[1] == key)

        original.call(*words, &block)
      end
    end

    # Makes the client's push fail for the job with +failing_jid+, and run yield first.
    def break_push(failing_jid, message)
      allow_any_instance_of(Sidekiq::Client).to receive(:push).and_wrap_original do |original, job|
        if job["jid"] == failing_jid
          yield if block_given?
          raise Ferrokiq::ConnectionError, message
        end
        original.call(job)
      end
    end

    it "retries one of two jobs sharing a score without ever taking the other out" do
      zadd("retry", 42, payload("h1"))
      zadd("retry", 42, payload("h2"))
      # Only a job that was taken out would need re-adding: with ZADD failing, none may be.
      break_redis("ZADD", "connection lost")
      entry = Sidekiq::SortedEntry.new(Sidekiq::RetrySet.new, 42, JSON.parse(payload("h1")))
      entry.retry
      expect(members("retry")).to eq([[payload("h2"), 42.0]])
      expect(queue_jobs.map { |job| job["jid"] }).to eq(["h1"])
    end

    it "puts a job whose push fails mid-retry_all back in its set, and raises the push's error" do
      3.times { |i| zadd("retry", 10 + i, payload(jid(i), retry_count: 5)) }
      break_push(jid(1), "push lost")
      expect { Sidekiq::RetrySet.new.retry_all }.to raise_error(Ferrokiq::ConnectionError, "push lost")
      expect(members("retry")).to eq([[payload(jid(1), retry_count: 5), 11.0], [payload(jid(2), retry_count: 5), 12.0]])
      expect(queue_jobs.map { |job| job["jid"] }).to eq([jid(0)])
      expect(reported).to be_empty
    end

    it "reports a job it cannot put back, with its payload, and raises the error that took it out" do
      2.times { |i| zadd("retry", 10 + i, payload(jid(i))) }
      break_push(jid(0), "push lost") { break_redis("ZADD", "still down") }
      expect { Sidekiq::RetrySet.new.retry_all }.to raise_error(Ferrokiq::ConnectionError, "push lost")
      expect(reported.size).to eq(1)
      message, context = reported.first
      expect(message).to eq("still down")
      expect(context).to include(context: /put a job back into the retry set/, job: payload(jid(0)))
      expect(Float(context[:score])).to eq(10.0)
      expect(members("retry")).to eq([[payload(jid(1)), 11.0]])
    end

    it "does the same for one entry's retry" do
      zadd("schedule", 7, payload("one"))
      break_push("one", "push lost") { break_redis("ZADD", "still down") }
      entry = Sidekiq::ScheduledSet.new.find_job("one")
      expect { entry.add_to_queue }.to raise_error(Ferrokiq::ConnectionError, "push lost")
      expect(reported.map { |_, context| context[:job] }).to eq([payload("one")])
    end

    it "lets a failed kill_all's error through when trimming the dead set fails too" do
      2.times { |i| zadd("retry", 10 + i, payload(jid(i))) }
      kills = 0
      allow_any_instance_of(Sidekiq::DeadSet).to receive(:kill).and_wrap_original do |original, *args|
        kills += 1
        raise Ferrokiq::ConnectionError, "dead set lost" if kills == 2

        original.call(*args)
      end
      allow_any_instance_of(Sidekiq::DeadSet).to receive(:trim).and_raise(Ferrokiq::ConnectionError, "trim lost")
      expect { Sidekiq::RetrySet.new.kill_all }.to raise_error(Ferrokiq::ConnectionError, "dead set lost")
      expect(reported.map { |message, context| [message, context[:context]] })
        .to eq([["trim lost", "Could not trim the dead set after kill_all of retry failed"]])
      expect(members("retry")).to eq([[payload(jid(1)), 11.0]])
      expect(members("dead").map(&:first)).to eq([payload(jid(0))])
    end
  end

  describe Sidekiq::DeadSet do
    let(:dead) { described_class.new }

    it "kills a JSON job or a Hash, scored now, and runs the death handlers" do
      before = Time.now.to_f
      expect(dead.kill(payload("d1"))).to be(true)
      dead.kill(JSON.parse(payload("d2")), ex: ArgumentError.new("custom"))
      expect(members("dead").map(&:first)).to eq([payload("d1"), payload("d2")])
      expect(members("dead").map(&:last)).to all(be_between(before, Time.now.to_f))
      expect(deaths).to eq([["d1", RuntimeError, "Job killed by API"], ["d2", ArgumentError, "custom"]])
    end

    it "trims to the newest dead_max_jobs - 1 as the server does, unless trim: false" do
      config[:dead_max_jobs] = 3
      5.times { |i| dead.kill(payload(jid(i)), notify_failure: false, trim: false) }
      expect(members("dead").size).to eq(5)
      dead.kill(payload("last"), notify_failure: false)
      expect(members("dead").map { |json, _| JSON.parse(json)["jid"] }).to eq([jid(4), "last"])
      expect(deaths).to be_empty
    end

    it "drops jobs older than dead_timeout_in_seconds" do
      config[:dead_timeout_in_seconds] = 60
      zadd("dead", Time.now.to_f - 120, payload("ancient"))
      dead.kill(payload("fresh"))
      expect(members("dead").map(&:first)).to eq([payload("fresh")])
      zadd("dead", Time.now.to_f - 120, payload("ancient"))
      dead.trim
      expect(members("dead").map(&:first)).to eq([payload("fresh")])
    end

    it "keeps a walk over itself whole when a job killed meanwhile is trimmed at once" do
      # Entries from a host whose clock runs an hour ahead: a job killed now scores below them all,
      # so with room for 60 the trim removes it straight away.
      ahead = Time.now.to_f + 3600
      60.times { |i| zadd("dead", ahead + i, payload(jid(i))) }
      config[:dead_max_jobs] = 61
      seen = dead.map do |entry|
        dead.kill(payload("late"), notify_failure: false) if entry.jid == jid(59)
        entry.jid
      end
      expect(seen).to eq(Array.new(60) { |i| jid(59 - i) })
      expect(members("dead").size).to eq(60)
    end

    it "refuses what is not a job, writing nothing" do
      expect { dead.kill(42) }.to raise_error(ArgumentError, /JSON or Hash/)
      expect { dead.kill("{broken") }.to raise_error(JSON::ParserError)
      expect(members("dead")).to be_empty
    end

    it "reports a failing death handler instead of raising" do
      config.death_handlers << ->(_job, _ex) { raise "handler broke" }
      reported = []
      allow(config).to receive(:handle_exception) { |ex, ctx| reported << [ex.message, ctx[:context]] }
      expect(dead.kill(payload("h"))).to be(true)
      expect(reported).to eq([["handler broke", "Error calling death handler"]])
      expect(deaths.map(&:first)).to eq(["h"])
    ensure
      config.death_handlers.pop
    end
  end

  it "deletes by jid and score" do
    zadd("retry", 7, payload("x1"))
    zadd("retry", 7, payload("x2"))
    set = Sidekiq::RetrySet.new
    expect(set.delete(7, "x2")).to eq(1)
    expect(set.delete_by_jid(7, "nope")).to eq(0)
    expect(members("retry").map(&:first)).to eq([payload("x1")])
  end
end
