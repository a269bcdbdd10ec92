# frozen_string_literal: true

# The plugin's own file name loads the API, as in an app that still requires it.
require "sidekiq-limit_fetch"
require "tmpdir"

# Queue limits as sidekiq-limit_fetch configures them, enforced by the engine's fetch, with
# several real servers at once.
RSpec.describe "Queue limits" do
  # Each job counts itself in "running" while it runs and records every count it saw, so the
  # samples show how many ran at once across all processes. A job with `hold` waits until the
  # example sets "release".
  LIMITED_JOBS = <<~RUBY
    class LimitedJob
      include Sidekiq::Job

      def perform(hold = false)
        Sidekiq.redis do |conn|
          conn.call("RPUSH", "concurrency:\#{queue_name}", conn.call("INCR", "running:\#{queue_name}"))
          conn.call("RPUSH", "started", "\#{jid}:\#{Process.pid}")
        end
        hold ? wait_for_release : sleep(0.02)
        Sidekiq.redis do |conn|
          conn.call("DECR", "running:\#{queue_name}")
          conn.call("RPUSH", "finished", "\#{jid}:\#{Process.pid}")
        end
      end

      def queue_name
        Thread.current[:queue_name] ||= "unknown"
      end

      def wait_for_release
        300.times do
          break if Sidekiq.redis { |conn| conn.call("GET", "release") }

          sleep 0.1
        end
      end
    end

    Sidekiq.configure_server do |config|
      config.server_middleware do |chain|
        chain.add(Class.new do
          def call(_job_instance, _job, queue)
            Thread.current[:queue_name] = queue
            yield
          end
        end)
      end
    end
  RUBY

  def push(queue, count, hold: false)
    Sidekiq::Client.push_bulk("class" => "LimitedJob", "queue" => queue, "args" => Array.new(count) { [hold] })
  end

  def concurrency(queue)
    redis_list("concurrency:#{queue}").map(&:to_i)
  end

  # jid => pids that ran it.
  def runs(event)
    redis_list(event).map { |entry| entry.split(":") }.group_by(&:first).transform_values { |pairs| pairs.map(&:last) }
  end

  # `Queue#busy` of +queue+, sampled until +total+ jobs have finished.
  def busy_samples_until_finished(queue, total)
    samples = []
    until runs("finished").size == total
      samples << Sidekiq::Queue[queue].busy
      sleep 0.01
    end
    samples
  end

  # The `queues` of the one process's heartbeat, once they include +including+.
  def heartbeat_queues(including:)
    queues = Sidekiq::ProcessSet.new.first&.[]("queues")
    queues if queues&.include?(including)
  end

  def config_file(yaml)
    path = File.join(@config_dir, "sidekiq.yml")
    File.write(path, yaml)
    path
  end

  around do |example|
    Dir.mktmpdir("limits") do |dir|
      @config_dir = dir
      example.run
    end
  end

  it "never lets all processes together run more of a queue than its :limits: allow" do
    bulk = push("bulk", 120)
    others = push("default", 60)
    yml = config_file(":limits:\n  bulk: 3\n")
    3.times { start_server(jobs: LIMITED_JOBS, args: ["-c", "5", "-C", yml, "-q", "bulk", "-q", "default"]) }

    samples = []
    until runs("finished").size == bulk.size + others.size
      samples << Sidekiq::Queue["bulk"].busy
      sleep 0.01
    end
    expect(Sidekiq::Queue["bulk"].limit).to eq(3)
    expect(concurrency("bulk").max).to eq(3)
    expect(samples.max).to be <= 3
    expect(concurrency("default").max).to be > 3
    expect(runs("started").values).to all(have_attributes(size: 1))
  end

  it "counts a process's jobs from its first fetch, before its first heartbeat" do
    # A process that has registered its working list and taken two jobs, but not yet beaten.
    identity = "booting-host:4242:0123456789ab"
    list = "ferrokiq:working:#{identity}:bulk"
    Sidekiq.redis do |conn|
      conn.call("HSET", "ferrokiq:working", list, "#{identity}\nbulk\n#{Time.now.to_i}")
      conn.call("LPUSH", list, '{"class":"HeldElsewhere","args":[]}', '{"class":"HeldElsewhere","args":[]}')
    end
    Sidekiq::Queue["bulk"].limit = 3
    bulk = push("bulk", 30)
    server = start_server(jobs: LIMITED_JOBS, args: %w[-c 5 -q bulk])
    eventually { runs("finished").size == bulk.size }
    expect(Sidekiq::Queue["bulk"].busy).to eq(2)
    expect(concurrency("bulk").max).to eq(1)
    expect(server.stop).to be_success
  end

  it "caps each process at its :process_limits:" do
    bulk = push("bulk", 40)
    yml = config_file(":process_limits:\n  bulk: 2\n")
    start_server(jobs: LIMITED_JOBS, args: ["-c", "5", "-C", yml, "-q", "bulk"])

    eventually { runs("finished").size == bulk.size }
    expect(Sidekiq::Queue["bulk"].process_limit).to eq(2)
    expect(concurrency("bulk").max).to eq(2)
  end

  it "frees the slots of a process killed with -9" do
    Sidekiq::Queue["bulk"].limit = 2
    held = push("bulk", 2, hold: true)
    first = start_server(jobs: LIMITED_JOBS, args: %w[-c 3 -q bulk])
    eventually { runs("started").size == 2 }
    later = push("bulk", 2)
    second = start_server(jobs: LIMITED_JOBS, args: %w[-c 3 -q bulk]).wait_until_running
    sleep 1
    expect(runs("started").keys).to match_array(held)

    first.kill!
    # The killed jobs never counted themselves out: count afresh from here.
    Sidekiq.redis { |conn| conn.call("DEL", "running:bulk", "concurrency:bulk") }
    Sidekiq.redis { |conn| conn.call("SET", "release", "1") }
    eventually(timeout: 60) { (runs("finished").keys & (held + later)).size == 4 }
    expect(runs("finished").values.flatten.uniq).to eq([second.pid.to_s])
    expect(concurrency("bulk").max).to eq(2)
    expect(second.stop).to be_success
  end

  it "takes nothing from a paused queue until it is unpaused" do
    queue = Sidekiq::Queue["bulk"]
    queue.pause
    expect(queue).to be_paused
    bulk = push("bulk", 10)
    others = push("default", 10)
    server = start_server(jobs: LIMITED_JOBS, args: %w[-c 3 -q bulk -q default])

    eventually { runs("finished").size == others.size }
    expect(queue.size).to eq(bulk.size)
    expect(queue.busy).to eq(0)

    queue.unpause
    expect(queue).not_to be_paused
    eventually { runs("finished").size == bulk.size + others.size }
    expect(server.stop).to be_success
  end

  it "takes from :blocking: queues before the queues listed above them" do
    others = push("default", 5)
    bulk = push("bulk", 5)
    yml = config_file(":blocking:\n  - bulk\n")
    start_server(jobs: LIMITED_JOBS, args: ["-c", "1", "-C", yml, "-q", "default", "-q", "bulk"])

    eventually { runs("finished").size == others.size + bulk.size }
    expect(Sidekiq::Queue["bulk"]).to be_blocking
    expect(runs("started").keys).to eq(bulk + others)
  end

  it "holds :limits: and :process_limits: under basic fetch, giving the slots back" do
    bulk = push("bulk", 90)
    mail = push("mail", 30)
    yml = config_file(":limits:\n  bulk: 3\n:process_limits:\n  mail: 1\n")
    args = ["--fetch", "basic", "-c", "5", "-C", yml, "-q", "bulk", "-q", "mail"]
    servers = Array.new(3) { start_server(jobs: LIMITED_JOBS, args:) }

    expect(busy_samples_until_finished("bulk", bulk.size + mail.size).max).to be <= 3
    expect(concurrency("bulk").max).to eq(3)
    expect(concurrency("mail").max).to be <= 3
    expect(runs("started").values).to all(have_attributes(size: 1))
    eventually { Sidekiq::Queue["bulk"].busy.zero? && Sidekiq::Queue["mail"].busy.zero? }
    expect(servers.map(&:stop)).to all(be_success)
    expect(Sidekiq.redis { |conn| conn.call("HLEN", "ferrokiq:taken") }).to eq(0)
  end

  it "frees the slots of a basic fetch process killed with -9" do
    Sidekiq::Queue["bulk"].limit = 2
    push("bulk", 2, hold: true)
    first = start_server(jobs: LIMITED_JOBS, args: %w[--fetch basic -c 3 -q bulk])
    eventually { runs("started").size == 2 }
    later = push("bulk", 2)
    second = start_server(jobs: LIMITED_JOBS, args: %w[--fetch basic -c 3 -q bulk]).wait_until_running
    sleep 1
    expect(runs("started").keys & later).to be_empty

    first.kill!
    Sidekiq.redis { |conn| conn.call("DEL", "running:bulk", "concurrency:bulk") }
    eventually(timeout: 60) { (runs("finished").keys & later).size == 2 }
    expect(runs("finished").values.flatten.uniq).to eq([second.pid.to_s])
    expect(concurrency("bulk").max).to eq(2)
    expect(second.stop).to be_success
  end

  context "with :dynamic:" do
    it "works queues pushed to after boot, except the excluded ones, and lists them in its heartbeat" do
      yml = config_file(":dynamic:\n  :exclude:\n    - private\n")
      server = start_server(jobs: LIMITED_JOBS, args: ["-c", "2", "-C", yml, "-q", "default"]).wait_until_running
      excluded = push("private", 1)
      fresh = push("fresh", 2)

      eventually { runs("finished").size == fresh.size }
      expect(runs("finished").keys).to match_array(fresh)
      expect(eventually { heartbeat_queues(including: "fresh") }).to eq(%w[default fresh])
      expect(Sidekiq::Queue["private"].size).to eq(excluded.size)
      expect(runs("started").keys).not_to include(*excluded)
      expect(server.stop).to be_success
    end

    it "holds a limit on a dynamic queue from the first fetch" do
      bulk = push("bulk", 60)
      yml = config_file(":dynamic: true\n:limits:\n  bulk: 2\n")
      2.times { start_server(jobs: LIMITED_JOBS, args: ["-c", "5", "-C", yml, "-q", "default"]) }

      expect(busy_samples_until_finished("bulk", bulk.size).max).to be <= 2
      expect(concurrency("bulk").max).to eq(2)
      expect(runs("started").values).to all(have_attributes(size: 1))
    end
  end

  it "reads and removes limits through the queue API" do
    queue = Sidekiq::Queue["mailers"]
    expect(queue.limit).to be_nil
    queue.limit = 5
    expect(Sidekiq.redis { |conn| conn.call("GET", "limit_fetch:limit:mailers") }).to eq("5")
    expect(queue.limit).to eq(5)
    queue.limit = nil
    expect(queue.limit).to be_nil
    expect { queue.limit = -1 }.to raise_error(ArgumentError)
    queue.pause_for_ms(60_000)
    expect(queue).to be_paused
    expect(Sidekiq.redis { |conn| conn.call("PTTL", "limit_fetch:pause:mailers") }).to be_between(1, 60_000)
  end
end
