# frozen_string_literal: true

require "open3"
require "rbconfig"
require "sidekiq/testing"

# The same test-suite script, run against Debian's Sidekiq 6.4.1 and against Ferrokiq (each in a
# process of its own, as both change Sidekiq::Client when loaded), must see the same jobs and
# run them in the same order. Jids and timestamps differ; their presence and types must not.
RSpec.describe "Sidekiq::Testing compared with Sidekiq 6.4.1" do
  let(:script) do
    <<~'RUBY'
      require "sidekiq/testing"
      require "json"

      $log = []

      class InteropJob
        include Sidekiq::Worker

        def perform(count)
          $log << ["countdown", count]
          InteropJob.perform_async(count - 1) if count.positive?
        end
      end

      class OtherJob
        include Sidekiq::Worker
        sidekiq_options queue: "other"

        def perform(*args)
          $log << ["other", args]
          raise ArgumentError, "no" if args == ["raise"]
        end
      end

      class Recorder
        def call(worker, job, queue)
          $log << ["middleware", worker.class.name, queue, job["jid"] == worker.jid]
          yield
        end
      end

      def shape(job)
        [job["class"], job["queue"], job["args"], job.keys.sort,
         job["enqueued_at"].class.name, job["created_at"].class.name, job["at"].class.name]
      end

      out = {}
      InteropJob.perform_async(1)
      InteropJob.perform_in(600, 2)
      OtherJob.perform_async("x", { "k" => [1, 2.5, nil] })
      Sidekiq::Client.push_bulk("class" => OtherJob, "args" => [[1], [2]])
      out["sizes"] = [InteropJob.jobs.size, OtherJob.jobs.size, Sidekiq::Worker.jobs.size]
      OtherJob.clear
      out["after_clear"] = [Sidekiq::Queues.jobs_by_queue.transform_values(&:size), OtherJob.jobs.size]
      OtherJob.set(queue: "default").perform_async("y")
      out["queues"] = Sidekiq::Queues.jobs_by_queue.transform_values { |jobs| jobs.map { |job| shape(job) } }
      Sidekiq::Testing.server_middleware { |chain| chain.add Recorder }
      InteropJob.perform_one
      out["after_one"] = InteropJob.jobs.map { |job| job["args"] }
      OtherJob.perform_async("z")
      Sidekiq::Worker.drain_all
      begin
        InteropJob.perform_one
      rescue => e
        out["empty"] = [e.class.name, e.message]
      end
      Sidekiq::Testing.inline! { OtherJob.perform_in(60, "inline") }
      begin
        Sidekiq::Testing.inline! { OtherJob.perform_async("raise") }
      rescue => e
        out["raised"] = [e.class.name, e.message]
      end
      out["log"] = $log
      out["left"] = Sidekiq::Worker.jobs.size
      puts JSON.generate(out)
    RUBY
  end

  def ferrokiq_run(source)
    lib = File.expand_path("../../../lib", __dir__)
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", lib, "-e", source)
    raise "Ferrokiq run failed (#{status}):\n#{err}\n#{out}" unless status.success?

    out
  end

  it "keeps, drains and runs the same jobs in the same way" do
    skip "Debian's Sidekiq 6.4.1 is not installed" unless SidekiqPeer.available?

    peer = JSON.parse(SidekiqPeer.run(script, redis_url: REDIS.url))
    ours = JSON.parse(ferrokiq_run(script))
    expect(ours).to eq(peer)
    expect(ours["empty"]).to eq(["Sidekiq::EmptyQueueError", "perform_one called with empty job queue"])
    expect(ours["queues"]["default"].first).to eq(
      ["InteropJob", "default", [1], %w[args class created_at enqueued_at jid queue retry],
       "Float", "Float", "NilClass"]
    )
  end
end
