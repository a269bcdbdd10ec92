# frozen_string_literal: true

require "tmpdir"

# Periodic jobs pushed through the client middleware, as sidekiq-scheduler and sidekiq-cron push
# them with Sidekiq::Client (docs/design.md, §5.1 and §5.2): the tick's claim hands the job to the
# Ruby thread, which runs the middleware and takes the job's unique-job lock; kill -9 safe.
module PeriodicHandOffSource
  # A ticking job with options of its own, a job with a lock that runs while RUN_HOLD exists,
  # and a server middleware that records what each run received.
  JOBS = <<~RUBY
    class MiddlewareTickJob
      include Sidekiq::Job
      sidekiq_options retry: 3

      def perform(label, metadata = {})
        Sidekiq.redis { |conn| conn.rpush("ticks", Sidekiq.dump_json([label, jid, metadata["scheduled_at"]])) }
      end
    end

    class LockedTickJob
      include Sidekiq::Job
      sidekiq_options lock: :until_executed

      def perform
        Sidekiq.redis { |conn| conn.rpush("locked_runs", jid) }
        sleep 0.05 while ENV["RUN_HOLD"] && File.exist?(ENV["RUN_HOLD"])
      end
    end

    class RunRecorder
      def call(_job_instance, job, _queue)
        record = [job["jid"], job["stamped"].to_s, job["retry"]]
        Sidekiq.redis { |conn| conn.rpush("runs", Sidekiq.dump_json(record)) }
        yield
      end
    end

    Sidekiq.configure_server do |config|
      config.server_middleware { |chain| chain.add(RunRecorder) }
    end
  RUBY

  # Client middleware that records each job it sees, holds while HOLD_FILE exists (the window
  # between the claim and the push), cancels the first tick of the "cancel" entry and stamps the
  # others.
  MIDDLEWARE = <<~RUBY.freeze
    #{JOBS}
    class PeriodicStamp
      def call(_klass, job, _queue, _pool)
        Sidekiq.redis { |conn| conn.rpush("client_seen", job["jid"]) }
        sleep 0.05 while ENV["HOLD_FILE"] && File.exist?(ENV["HOLD_FILE"])
        return if job["args"].first == "cancel" && Sidekiq.redis { |conn| conn.incr("cancelled") } == 1

        job["stamped"] = "yes"
        yield
      end
    end

    Sidekiq.configure_server do |config|
      config.client_middleware { |chain| chain.add(PeriodicStamp) }
    end
  RUBY
end

RSpec.describe "Periodic jobs through the client middleware" do # rubocop:disable Metrics/BlockLength
  before { eval(PeriodicHandOffSource::JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  after { Sidekiq.instance_variable_set(:@schedule, nil) }

  def every_second(label)
    { "cron" => "* * * * * *", "class" => "MiddlewareTickJob", "args" => [label], "include_metadata" => true }
  end

  # [label, jid, tick] of each run.
  def ticks(label)
    redis_json_list("ticks").select { |name, _, _| name == label }
  end

  # jid => [stamped, retry] of each run.
  def runs
    redis_json_list("runs").to_h { |jid, stamped, retries| [jid, [stamped, retries]] }
  end

  def periodic_hand_offs
    Sidekiq.redis { |conn| conn.keys("ferrokiq:handoff:*:periodic").sum { |key| conn.llen(key) } }
  end

  it "lets the middleware see and change each tick's job, pushed with its class's options" do
    Sidekiq.public_send(:schedule=, { "stamped_tick" => every_second("stamped") })
    start_server(jobs: PeriodicHandOffSource::MIDDLEWARE)
    eventually { ticks("stamped").size >= 3 }
    Sidekiq.remove_schedule("stamped_tick")
    ran = ticks("stamped")
    jids = ran.map { |_, jid, _| jid }
    expect(ran.map(&:last)).to eq(ran.map(&:last).uniq)
    expect(redis_list("client_seen")).to include(*jids)
    # Stamped by the client middleware; `retry: 3` is the class's option, which Sidekiq::Client
    # applies and the entry does not repeat.
    expect(jids.map { |jid| runs[jid] }).to all(eq(["yes", 3]))
  end

  it "drops a tick the middleware cancels, and the next ticks still come" do
    Sidekiq.public_send(:schedule=, { "cancel_tick" => every_second("cancel") })
    start_server(jobs: PeriodicHandOffSource::MIDDLEWARE)
    eventually { ticks("cancel").size >= 2 }
    Sidekiq.remove_schedule("cancel_tick")
    ran = ticks("cancel").map { |_, jid, _| jid }
    cancelled, *passed = redis_list("client_seen")
    expect(cancelled).not_to be_nil
    expect(ran).not_to include(cancelled)
    expect(passed).to include(*ran)
    expect(ran).to eq(ran.uniq)
    # Settled each time (a tick claimed just before the removal may still be on its way).
    eventually { periodic_hand_offs.zero? }
  end

  it "does not push a locked job's tick again while its previous run holds the lock, without middleware" do
    hold = File.join(Dir.mktmpdir("ferrokiq-run"), "hold")
    File.write(hold, "")
    Sidekiq.public_send(:schedule=, { "locked_tick" => { "cron" => "* * * * * *", "class" => "LockedTickJob" } })
    # The publisher adds the class's lock, which tells the Rust scheduler to leave the tick to Ruby.
    expect(Sidekiq.get_schedule("locked_tick")).to include("lock" => "until_executed")
    start_server(jobs: PeriodicHandOffSource::JOBS, env: { "RUN_HOLD" => hold })
    first = eventually { redis_list("locked_runs").first }
    claimed = Sidekiq.redis { |conn| conn.zcard("sidekiq-scheduler:pushed:locked_tick") }
    # Ticks go by while the first run holds the lock: claimed, each dropped at its push.
    eventually { Sidekiq.redis { |conn| conn.zcard("sidekiq-scheduler:pushed:locked_tick") } >= claimed + 3 }
    expect(redis_list("locked_runs")).to eq([first])
    expect(redis_list("queue:default")).to be_empty
    eventually { periodic_hand_offs.zero? } # the newest tick may be on its way to the lock

    File.delete(hold)
    eventually { redis_list("locked_runs").size >= 2 }
    Sidekiq.remove_schedule("locked_tick")
    expect(redis_list("locked_runs")).to eq(redis_list("locked_runs").uniq)
  end

  it "pushes a tick claimed by a process killed with SIGKILL before its push exactly once, from another process" do
    hold = File.join(Dir.mktmpdir("ferrokiq-hold"), "hold")
    File.write(hold, "")
    env = { "HOLD_FILE" => hold }
    victim = start_server(jobs: PeriodicHandOffSource::MIDDLEWARE, env:).wait_until_running
    at = Time.now.to_i + 1
    Sidekiq.public_send(:schedule=, {
                          "once" => { "at" => Time.at(at).utc.strftime("%Y-%m-%d %H:%M:%S +0000"),
                                      "class" => "MiddlewareTickJob", "args" => ["once"] }
                        })
    jid = eventually { redis_list("client_seen").first }
    # Claimed: in this process's hand-off list, in no queue.
    expect([periodic_hand_offs, redis_list("queue:default").size]).to eq([1, 0])
    victim.kill!

    File.delete(hold)
    start_server(jobs: PeriodicHandOffSource::MIDDLEWARE, env:).wait_until_running
    eventually(timeout: 20) { ticks("once").size == 1 }
    sleep 1.5 # a second push would show by now
    expect(ticks("once").map { |_, ran, _| ran }).to eq([jid])
    expect(redis_list("client_seen")).to eq([jid, jid])
    # Recovered as a due scheduled job: through the middleware again, with the entry's own keys.
    expect(runs[jid].first).to eq("yes")
    expect([periodic_hand_offs, Sidekiq.redis { |conn| conn.zcard("schedule") }]).to eq([0, 0])
  end

  it "pushes each tick once with two processes with middleware, across a lease handover" do
    Sidekiq.public_send(:schedule=, { "pair_tick" => every_second("pair") })
    servers = Array.new(2) { start_server(jobs: PeriodicHandOffSource::MIDDLEWARE) }
    servers.each(&:wait_until_running)
    eventually { ticks("pair").size >= 2 }
    Sidekiq.redis { |conn| conn.del("ferrokiq:scheduler") }
    seen = ticks("pair").size
    eventually { ticks("pair").size >= seen + 3 }
    Sidekiq.remove_schedule("pair_tick")
    # The ticks already claimed run before the processes stop (a tick run twice never lets
    # the counts meet).
    eventually { redis_list("client_seen").size == ticks("pair").size }
    servers.each { |server| expect(server.stop).to be_success }

    stamps = ticks("pair").map(&:last)
    expect(stamps).to eq(stamps.uniq)
    jids = ticks("pair").map { |_, jid, _| jid }
    expect(redis_list("client_seen")).to match_array(jids)
    expect(periodic_hand_offs).to eq(0)
  end
end
