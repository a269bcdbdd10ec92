# frozen_string_literal: true

# The memory limit (`max_memory`, SIDEKIQ_MAXMEM_MB): a real server whose RSS stays above it
# quiets, lets its running jobs finish, and exits with Ferrokiq::MemoryLimit::EXIT_STATUS.
RSpec.describe "Memory limit" do
  # Jobs record their start and end (with the pid that ran them); the blocking ones hold their
  # thread until the example sets "release", so they are certainly running when the limit
  # trips. The limit is set from the RSS at boot plus 150 MB; the hog holds 400 MB.
  MEMORY_JOBS = <<~RUBY
    def rss_mb
      File.read("/proc/self/status")[/^VmRSS:\\s+(\\d+)/, 1].to_i / 1024
    end

    Sidekiq.configure_server do |config|
      config[:max_memory] = rss_mb + 150
      config[:max_memory_grace] = 1
    end

    module Recorded
      def record(event)
        Sidekiq.redis { |conn| conn.rpush(event, "\#{jid}:\#{Process.pid}") }
      end

      def wait_for_release
        200.times do
          break if Sidekiq.redis { |conn| conn.get("release") }

          sleep 0.1
        end
      end
    end

    class HoldJob
      include Sidekiq::Job
      include Recorded

      def perform
        record("started")
        wait_for_release
        record("finished")
      end
    end

    class HogJob
      include Sidekiq::Job
      include Recorded

      def perform
        record("started")
        hog = "x" * (400 * 1024 * 1024)
        wait_for_release
        record("finished") if hog.bytesize.positive?
      end
    end

    class QuickJob
      include Sidekiq::Job
      include Recorded

      def perform
        record("started")
        record("finished")
      end
    end
  RUBY

  def push(klass)
    Sidekiq::Client.push("class" => klass, "args" => [])
  end

  # jid => pids that ran it, for each recorded event.
  def runs(event)
    redis_list(event).map { |entry| entry.split(":") }.group_by(&:first).transform_values { |pairs| pairs.map(&:last) }
  end

  it "quiets, lets running jobs finish, exits 75, and loses no job" do
    held = [push("HoldJob"), push("HoldJob"), push("HogJob")]
    later = Array.new(20) { push("QuickJob") }
    server = start_server(jobs: MEMORY_JOBS, args: %w[-c 3])

    eventually { server.log.include?("Memory limit reached") }
    expect(server.log).to match(/Memory limit: \d+ MB RSS/)
    expect(server.log).to match(/RSS \d+ MB has been above \d+ MB for \d+ s\. Shutting down; exit status 75/)
    eventually { server.log.include?("Terminating quiet threads") }
    expect(runs("started").keys).to match_array(held)

    Sidekiq.redis { |conn| conn.set("release", "1") }
    expect(server.wait.exitstatus).to eq(75)
    expect(server.log).not_to include("Terminating #{held.size} busy threads")
    expect(runs("finished").slice(*held).values).to all(eq([server.pid.to_s]))
    expect(raw_queue.size).to eq(later.size)

    drain = start_server(jobs: MEMORY_JOBS.sub("config[:max_memory] = rss_mb + 150", ""), args: %w[-c 3])
    eventually { runs("finished").size == held.size + later.size }
    expect(drain.stop).to be_success
    expect(runs("started").values).to all(have_attributes(size: 1))
    expect(runs("finished").keys).to match_array(held + later)
  end

  it "takes SIDEKIQ_MAXMEM_MB over max_memory, and exits 75 with no job running" do
    server = start_server(jobs: MEMORY_JOBS, env: { "SIDEKIQ_MAXMEM_MB" => "1" })
    expect(server.wait.exitstatus).to eq(75)
    expect(server.log).to include("Memory limit: 1 MB RSS")
    expect(server.log).to match(/Memory limit reached.*Shutting down.*Bye!/m)
  end

  it "refuses to start with a limit that is not a positive number of megabytes" do
    server = start_server(jobs: "", env: { "SIDEKIQ_MAXMEM_MB" => "lots" })
    expect(server.wait.exitstatus).not_to eq(0)
    expect(server.log).to include('SIDEKIQ_MAXMEM_MB: "lots" is not a valid value (megabytes, more than 0)')
  end
end
