# frozen_string_literal: true

# A capsule starts its idle threads only when they can be of use (docs/design.md, §3.1): these
# are the cases where they must start, or jobs would wait behind others. The servers' job file:
module AdmissionSpecSource
  JOBS = <<~RUBY
    # Each waits until all five are running at once, or gives up after 10 s.
    class GatherJob
      include Sidekiq::Job
      def perform
        Sidekiq.redis { |conn| conn.incr("gathered") }
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
        seen = 0
        loop do
          seen = Sidekiq.redis { |conn| conn.get("gathered") }.to_i
          break if seen >= 5 || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

          sleep 0.01
        end
        Sidekiq.redis { |conn| conn.rpush("met", seen.to_s) }
      end
    end

    # Computes (holding the GVL but for a look at Redis every few milliseconds) until the
    # quick jobs queued behind it are done, or 15 s passed.
    class ComputeJob
      include Sidekiq::Job
      def perform
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 15
        done = 0
        until done >= 20 || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          text = +""
          20_000.times { |i| text << i.to_s }
          done = Sidekiq.redis { |conn| conn.llen("quick") }
        end
        Sidekiq.redis { |conn| conn.rpush("computed", done.to_s) }
      end
    end

    class QuickJob
      include Sidekiq::Job
      def perform(index)
        Sidekiq.redis { |conn| conn.rpush("quick", index.to_s) }
      end
    end
  RUBY
end

RSpec.describe "worker thread admission" do
  before { eval(AdmissionSpecSource::JOBS, TOPLEVEL_BINDING) } # rubocop:disable Security/Eval

  it "runs jobs that wait on I/O all at once, up to the concurrency" do
    5.times { GatherJob.perform_async }
    start_server(jobs: AdmissionSpecSource::JOBS, args: %w[-c 5])
    eventually(timeout: 20) { redis_list("met").size == 5 }
    expect(redis_list("met")).to eq(%w[5] * 5)
  end

  it "does not hold up quick jobs behind a job that computes" do
    ComputeJob.perform_async
    20.times { |i| QuickJob.perform_async(i) }
    start_server(jobs: AdmissionSpecSource::JOBS, args: %w[-c 3])
    eventually(timeout: 25) { redis_list("computed").size == 1 }
    expect(redis_list("computed")).to eq(%w[20])
    expect(redis_list("quick").map(&:to_i)).to match_array(0...20)
  end
end
