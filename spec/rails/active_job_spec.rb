# frozen_string_literal: true

require "securerandom"
require_relative "../support/rails_app"

# Active Job on Ferrokiq with Debian's Rails 6.1 (`queue_adapter = :sidekiq`, Ferrokiq's adapter in
# place of the one Rails ships), against the spec's Redis. The app, its clients and its servers run in subprocesses.
RSpec.describe "Active Job (Rails 6.1)" do
  wrapper = "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper"
  preloaded = %w[active_job/queue_adapters/sidekiq_adapter.rb sidekiq/active_job/wrapper.rb]
              .map { |file| File.join(RailsApp::LIB, file) }
  serialize_keys = %w[job_class job_id provider_job_id queue_name priority arguments executions
                      exception_executions locale timezone enqueued_at]

  app_files = {
    "config/application.rb" => <<~RUBY,
      require "rails"
      require "active_job/railtie"
      require "sidekiq" # as Bundler.require does for `gem "ferrokiq"`

      module AjSpec
        class Application < Rails::Application
          config.load_defaults 6.1
          config.eager_load = false
          config.cache_classes = true
          config.logger = ActiveSupport::Logger.new(File::NULL)
          config.active_job.queue_adapter = :sidekiq
          config.active_job.queue_name_prefix = "ajspec"
        end
      end
    RUBY
    "config/environment.rb" => <<~RUBY,
      require_relative "application"
      Rails.application.initialize!
    RUBY
    "config/initializers/sidekiq.rb" => <<~RUBY,
      # Which wrapper class a server ran each job with: Ferrokiq's JobWrapper subclasses Sidekiq::ActiveJob::Wrapper.
      class WrapperLog
        include Sidekiq::ServerMiddleware

        def call(job, msg, _queue)
          JobLog.record("wrappers", "class" => msg["class"], "superclass" => job.class.superclass.name)
          yield
        end
      end
      Sidekiq.configure_server do |config|
        config.server_middleware.add(WrapperLog)
        # Which of Ferrokiq's Active Job files the server loaded before its threads started.
        config.on(:startup) do
          files = #{preloaded.inspect}
          JobLog.record("startup", "loaded" => files.select { |path| $LOADED_FEATURES.include?(path) })
        end
      end
    RUBY
    "config/sidekiq.yml" => <<~YAML,
      :concurrency: 2
      :poll_interval_average: 1
      :queues:
        - ajspec_default
        - ajspec_low
    YAML
    "app/jobs/application_job.rb" => <<~RUBY,
      class ApplicationJob < ActiveJob::Base
      end
    RUBY
    "app/jobs/job_log.rb" => <<~RUBY,
      module JobLog
        def self.record(list, entry)
          Sidekiq.redis { |conn| conn.call("RPUSH", "ajspec:\#{list}", Sidekiq.dump_json(entry)) }
        end
      end
    RUBY
    "app/jobs/echo_job.rb" => <<~RUBY,
      class EchoJob < ApplicationJob
        def perform(*args, **options)
          JobLog.record("ran", "by" => "ferrokiq", "jid" => provider_job_id, "job_id" => job_id,
                               "executions" => executions, "args" => args.inspect, "options" => options.inspect)
        end
      end
    RUBY
    "app/jobs/billing_job.rb" => <<~RUBY,
      class BillingJob < ApplicationJob
        queue_as :low
        sidekiq_options retry: 3, backtrace: 5, "team" => "billing"

        def perform(*); end
      end
    RUBY
    "app/jobs/invoice_job.rb" => <<~RUBY,
      class InvoiceJob < BillingJob
        sidekiq_options tags: ["invoice"]
      end
    RUBY
    "app/jobs/flaky_job.rb" => <<~RUBY,
      class FlakyJob < ApplicationJob
        class Failure < StandardError; end
        retry_on Failure, wait: 1, attempts: 3

        def perform(succeed_on)
          JobLog.record("flaky", "jid" => provider_job_id, "executions" => executions)
          raise Failure, "attempt \#{executions}" if executions < succeed_on

          JobLog.record("flaky_done", "executions" => executions)
        end
      end
    RUBY
    "app/jobs/give_up_job.rb" => <<~RUBY,
      class GiveUpJob < ApplicationJob
        class Failure < StandardError; end
        retry_on Failure, wait: 1, attempts: 2
        sidekiq_options retry: 0
        sidekiq_retries_exhausted do |msg, exception|
          JobLog.record("exhausted", "class" => msg["class"], "wrapped" => msg["wrapped"], "error" => exception.message)
        end

        def perform
          raise Failure, "gave up after \#{executions}"
        end
      end
    RUBY
    "app/jobs/backoff_job.rb" => <<~RUBY,
      class BackoffJob < ApplicationJob
        sidekiq_options retry: 2
        sidekiq_retry_in { |count, _exception, _msg| 1000 * (count + 1) }

        def perform
          raise "backoff"
        end
      end
    RUBY
    "app/jobs/discarded_job.rb" => <<~RUBY
      class DiscardedJob < ApplicationJob
        class Stale < StandardError; end
        discard_on(Stale) { |job, error| JobLog.record("discarded", "job_id" => job.job_id, "error" => error.message) }

        def perform
          raise Stale, "stale"
        end
      end
    RUBY
  }

  # The same Active Job class for Debian's Sidekiq 6.4.1 (client and server), without Rails.
  peer_active_job = <<~RUBY
    require "active_job"
    Sidekiq.options[:poll_interval_average] = 1
    ActiveJob::Base.logger = Logger.new(nil)
    ActiveJob::Base.queue_adapter = :sidekiq
    ActiveJob::Base.queue_name_prefix = "ajspec"
    class EchoJob < ActiveJob::Base
      def perform(*args, **options)
        entry = { "by" => "6.4.1", "jid" => provider_job_id, "job_id" => job_id, "executions" => executions,
                  "args" => args.inspect, "options" => options.inspect }
        Sidekiq.redis { |conn| conn.rpush("ajspec:ran", Sidekiq.dump_json(entry)) }
      end
    end
  RUBY

  before(:context) { @app = RailsApp.new(app_files) }
  after(:context) { @app&.destroy }

  def redis(*command)
    Sidekiq.redis { |conn| conn.call(*command) }
  end

  def raw_queue(name)
    redis("LRANGE", "queue:#{name}", 0, -1)
  end

  def logged(list)
    redis("LRANGE", "ajspec:#{list}", 0, -1).map { |json| JSON.parse(json) }
  end

  def sorted_set(name)
    redis("ZRANGE", name, 0, -1, "WITHSCORES").map { |json, score| [JSON.parse(json), Float(score)] }
  end

  # An Active Job as Sidekiq 8 enqueues it (Rails 7.1+ serialization, millisecond timestamps).
  def push_sidekiq8_job(argument, jid, job_class: "Sidekiq::ActiveJob::Wrapper")
    job_data = { "job_class" => "EchoJob", "job_id" => SecureRandom.uuid, "provider_job_id" => nil,
                 "queue_name" => "ajspec_default", "priority" => nil, "arguments" => [argument],
                 "executions" => 0, "exception_executions" => {}, "locale" => "en", "timezone" => "UTC",
                 "enqueued_at" => "2025-01-01T00:00:00.000000000Z", "scheduled_at" => nil }
    payload = { "retry" => true, "queue" => "ajspec_default", "wrapped" => "EchoJob", "args" => [job_data],
                "class" => job_class, "jid" => jid, "created_at" => 1_735_689_600_000,
                "enqueued_at" => 1_735_689_600_001 }
    redis("SADD", "queues", "ajspec_default")
    redis("LPUSH", "queue:ajspec_default", JSON.generate(payload))
    payload
  end

  def start_app_server
    server = @app.server.start
    (@servers ||= []) << server
    server.wait_until_running
  end

  describe "enqueueing" do
    it "uses Ferrokiq's adapter for :sidekiq whichever lib comes first on the load path, even after Rails' file" do
      rails_lib = File.join(Gem::Specification.find_by_name("activejob").gem_dir, "lib")
      rails_file = File.join(rails_lib, "active_job/queue_adapters/sidekiq_adapter.rb")
      script = <<~RUBY
        require File.expand_path("config/environment")
        ours = ActiveJob::Base.queue_adapter
        require "active_job/queue_adapters/sidekiq_adapter"
        require #{rails_file.inspect}
        adapter = ActiveJob::QueueAdapters.lookup(:sidekiq)
        puts JSON.generate(
          "class" => ours.class.name, "same_class" => ours.class.equal?(adapter),
          "defined_in" => adapter.instance_method(:enqueue).source_location.first,
          "wrapper_superclass" => adapter::JobWrapper.superclass.name,
          "rails_file_loaded" => $LOADED_FEATURES.include?(#{rails_file.inspect}),
          "after_commit" => ours.enqueue_after_transaction_commit?, "enqueue_all" => ours.respond_to?(:enqueue_all)
        )
      RUBY

      [[RailsApp::LIB], [rails_lib, RailsApp::LIB]].each do |load_path|
        printed = @app.sh(RbConfig.ruby, *load_path.flat_map { |dir| ["-I", dir] }, "-e", script)
        expect(JSON.parse(printed)).to eq(
          "class" => "ActiveJob::QueueAdapters::SidekiqAdapter", "same_class" => true,
          "defined_in" => File.join(RailsApp::LIB, "active_job/queue_adapters/sidekiq_adapter.rb"),
          "wrapper_superclass" => "Sidekiq::ActiveJob::Wrapper", "rails_file_loaded" => true,
          "after_commit" => true, "enqueue_all" => true
        )
      end
    end

    it "pushes what Sidekiq pushes for perform_later: the JobWrapper, wrapped, args = [job.serialize]" do
      printed = @app.run(<<~RUBY)
        job = EchoJob.perform_later(1, "two", { "three" => 3.5 }, sym: :bol)
        puts JSON.generate("job_id" => job.job_id, "provider_job_id" => job.provider_job_id)
      RUBY
      ids = JSON.parse(printed)
      raw = raw_queue("ajspec_default")
      expect(raw.size).to eq(1)
      expect(Sidekiq.dump_json(JSON.parse(raw.first))).to eq(raw.first)
      expect(Ferrokiq::Native.normalize_json(raw.first)).to eq(raw.first)

      payload = JSON.parse(raw.first)
      expect(payload.keys).to eq(%w[retry queue class wrapped args jid created_at enqueued_at])
      expect(payload).to include("retry" => true, "queue" => "ajspec_default", "class" => wrapper,
                                 "wrapped" => "EchoJob", "jid" => ids["provider_job_id"])
      expect(payload["jid"]).to match(/\A\h{24}\z/)
      expect([payload["created_at"], payload["enqueued_at"]]).to all(be_a(Float))
      expect(payload["args"].size).to eq(1)
      serialized = payload["args"].first
      expect(serialized.keys).to eq(serialize_keys)
      expect(serialized).to include("job_class" => "EchoJob", "job_id" => ids["job_id"], "provider_job_id" => nil,
                                    "queue_name" => "ajspec_default", "executions" => 0, "locale" => "en")
      expect(serialized["arguments"]).to eq(
        [1, "two", { "three" => 3.5, "_aj_symbol_keys" => [] },
         { "sym" => { "_aj_serialized" => "ActiveJob::Serializers::SymbolSerializer", "value" => "bol" },
           "_aj_ruby2_keywords" => ["sym"] }]
      )
      expect(redis("SMEMBERS", "queues")).to eq(["ajspec_default"])
    end

    it "puts set(wait:) and set(wait_until:) jobs in the schedule set at their times" do
      before = Time.now.to_f
      printed = @app.run(<<~RUBY)
        wait_until = Time.now + 3600.25
        EchoJob.set(wait: 600).perform_later("waited")
        EchoJob.set(wait_until: wait_until).perform_later("until")
        EchoJob.set(wait_until: Time.now - 60).perform_later("past")
        puts wait_until.to_f
      RUBY
      after = Time.now.to_f
      wait_until = Float(printed)

      scheduled = sorted_set("schedule").to_h { |job, score| [job["args"].first["arguments"].first, [job, score]] }
      expect(scheduled.keys).to contain_exactly("waited", "until")
      waited_job, waited_at = scheduled["waited"]
      expect(waited_at).to be_between(before + 600, after + 600)
      expect(scheduled["until"].last).to eq(wait_until)
      scheduled.each_value do |job, _|
        expect(job).to include("class" => wrapper, "wrapped" => "EchoJob", "queue" => "ajspec_default")
        expect(job).not_to include("at", "enqueued_at")
      end
      expect(waited_job["args"].first["job_class"]).to eq("EchoJob")
      # A time already past enqueues at once, as perform_at does.
      expect(raw_queue("ajspec_default").map { |json| JSON.parse(json)["args"].first["arguments"] }).to eq([["past"]])
    end

    it "enqueue_all pushes each class, queue and now-or-later group in one push_bulk, setting provider_job_ids" do
      before = Time.now.to_f
      printed = @app.run(<<~RUBY)
        calls = []
        Sidekiq::Client.prepend(Module.new do
          define_method(:push) { |item| calls << ["push", item["wrapped"].to_s]; super(item) }
          define_method(:push_bulk) do |items|
            calls << ["push_bulk", items["wrapped"].to_s, items["queue"], items["args"].size, items.key?("at")]
            super(items)
          end
        end)
        jobs = [EchoJob.new("a"), BillingJob.new("c"), EchoJob.new("b")]
        %w[d e].each_with_index do |name, index|
          jobs << EchoJob.new(name).tap { |job| job.scheduled_at = Time.now.to_f + (600 * (index + 1)) }
        end
        count = ActiveJob::Base.queue_adapter.enqueue_all(jobs)
        puts JSON.generate("count" => count, "calls" => calls,
                           "jobs" => jobs.to_h { |job| [job.arguments.first, [job.provider_job_id, job.scheduled_at]] })
      RUBY
      result = JSON.parse(printed)
      expect(result["count"]).to eq(5)
      expect(result["calls"]).to contain_exactly(["push_bulk", "EchoJob", "ajspec_default", 2, false],
                                                 ["push_bulk", "BillingJob", "ajspec_low", 1, false],
                                                 ["push_bulk", "EchoJob", "ajspec_default", 2, true])
      jobs = result["jobs"]
      expect(jobs.values.map(&:first)).to all(match(/\A\h{24}\z/))

      stored = raw_queue("ajspec_default").map { |json| JSON.parse(json) } +
               raw_queue("ajspec_low").map { |json| JSON.parse(json) }
      expect(stored.to_h { |job| [job["args"].first["arguments"].first, job["jid"]] })
        .to eq(jobs.slice("a", "b", "c").transform_values(&:first))
      expect(stored).to all(include("class" => wrapper))
      expect(stored.map { |job| [job["wrapped"], job["queue"], job["retry"]] })
        .to contain_exactly(["EchoJob", "ajspec_default", true], ["EchoJob", "ajspec_default", true],
                            ["BillingJob", "ajspec_low", 3])
      scheduled = sorted_set("schedule")
      expect(scheduled.to_h { |job, score| [job["args"].first["arguments"].first, [job["jid"], score]] })
        .to eq(jobs.slice("d", "e"))
      expect(scheduled.map(&:first))
        .to all(include("class" => wrapper, "wrapped" => "EchoJob", "queue" => "ajspec_default"))
      expect(jobs["d"].last).to be > before + 600
    end

    it "takes the queue from queue_as, set(queue:) and the queue_name_prefix, and options from sidekiq_options" do
      @app.run(<<~RUBY)
        BillingJob.perform_later("b")
        InvoiceJob.perform_later("i")
        EchoJob.set(queue: :urgent).perform_later("u")
      RUBY

      low = raw_queue("ajspec_low").map { |json| JSON.parse(json) }.to_h { |job| [job["wrapped"], job] }
      expect(low.keys).to contain_exactly("BillingJob", "InvoiceJob")
      expect(low["BillingJob"]).to include("retry" => 3, "backtrace" => 5, "team" => "billing", "queue" => "ajspec_low")
      expect(low["BillingJob"]).not_to include("tags")
      expect(low["InvoiceJob"]).to include("retry" => 3, "backtrace" => 5, "team" => "billing",
                                           "tags" => ["invoice"], "queue" => "ajspec_low")
      expect(low.values.map { |job| job["args"].first["queue_name"] }).to all(eq("ajspec_low"))
      urgent = raw_queue("ajspec_urgent").map { |json| JSON.parse(json) }
      expect(urgent.map { |job| [job["wrapped"], job["retry"]] }).to eq([["EchoJob", true]])
      expect(redis("SMEMBERS", "queues")).to contain_exactly("ajspec_low", "ajspec_urgent")
    end
  end

  describe "on a Ferrokiq server (sidekiq -r <app dir>)" do
    it "runs jobs enqueued under Rails 6.1's JobWrapper and under Sidekiq 8's Sidekiq::ActiveJob::Wrapper" do
      @app.run('EchoJob.perform_later(1, "two", { "three" => 3.5 }, sym: :bol)')
      sidekiq8 = push_sidekiq8_job("from sidekiq 8", "0123456789abcdef01234567")
      job_data = sidekiq8["args"].first
      jids = raw_queue("ajspec_default").map { |json| JSON.parse(json)["jid"] }

      start_app_server
      eventually { logged("ran").size >= 2 }

      ran = logged("ran").to_h { |entry| [entry["jid"], entry] }
      expect(ran.keys).to match_array(jids)
      expect(ran["0123456789abcdef01234567"]).to include("args" => '["from sidekiq 8"]', "options" => "{}",
                                                         "job_id" => job_data["job_id"], "executions" => 1)
      ours = ran.values.find { |entry| entry["jid"] != "0123456789abcdef01234567" }
      expect(ours).to include("args" => '[1, "two", {"three"=>3.5}]', "options" => "{:sym=>:bol}", "executions" => 1)
    end

    # Left to the first two jobs, they deadlocked in Ruby's load locks: one thread inside the
    # wrapper's autoload, the other requiring the wrapper file from the adapter.
    it "loads the adapter and both wrapper classes before its threads take jobs" do
      start_app_server
      eventually { logged("startup").any? }
      expect(logged("startup").first["loaded"]).to match_array(preloaded)
    end

    it "lets retry_on re-enqueue (a new jid each time, through the schedule) until the job succeeds" do
      @app.run("FlakyJob.perform_later(3)")
      server = start_app_server
      eventually { logged("flaky_done").any? }
      server.stop

      runs = logged("flaky")
      expect(runs.map { |run| run["executions"] }).to eq([1, 2, 3])
      expect(runs.map { |run| run["jid"] }.uniq.size).to eq(3)
      expect(logged("flaky_done")).to eq([{ "executions" => 3 }])
      expect(redis("ZCARD", "retry")).to eq(0)
      expect(redis("ZCARD", "dead")).to eq(0)
    end

    it "hands an error retry_on gave up on to Sidekiq's retries: the class's sidekiq_retries_exhausted, then dead" do
      @app.run("GiveUpJob.perform_later")
      server = start_app_server
      eventually { logged("exhausted").any? }
      server.stop

      expect(logged("exhausted"))
        .to eq([{ "class" => wrapper, "wrapped" => "GiveUpJob", "error" => "gave up after 2" }])
      dead = sorted_set("dead").map(&:first)
      expect(dead.size).to eq(1)
      expect(dead.first).to include("class" => wrapper, "wrapped" => "GiveUpJob", "retry" => 0, "retry_count" => 0,
                                    "error_class" => "GiveUpJob::Failure", "error_message" => "gave up after 2")
      # The second run's job as fetched: Active Job had counted the first failure when it re-enqueued it.
      expect(dead.first["args"].first).to include("executions" => 1,
                                                  "exception_executions" => { "[GiveUpJob::Failure]" => 1 })
      expect(redis("ZCARD", "retry")).to eq(0)
    end

    it "schedules Sidekiq's retry with the Active Job class's sidekiq_retry_in" do
      @app.run("BackoffJob.perform_later")
      server = start_app_server
      eventually { redis("ZCARD", "retry") == 1 }
      server.stop

      job, score = sorted_set("retry").first
      expect(job).to include("class" => wrapper, "wrapped" => "BackoffJob", "retry" => 2, "retry_count" => 0,
                             "error_class" => "RuntimeError", "error_message" => "backoff")
      # 1000 * (count + 1) seconds after the failure, plus Sidekiq's jitter (under 10 * (count + 1)).
      expect(score).to be_between(job["failed_at"] + 1000, job["failed_at"] + 1010)
    end

    it "lets discard_on drop the job: no retry, no dead entry" do
      @app.run("DiscardedJob.perform_later")
      server = start_app_server
      eventually { logged("discarded").any? }
      server.stop

      expect(logged("discarded").map { |entry| entry["error"] }).to eq(["stale"])
      expect(redis("ZCARD", "retry")).to eq(0)
      expect(redis("ZCARD", "dead")).to eq(0)
      expect(raw_queue("ajspec_default")).to be_empty
    end
  end

  it "runs both wrappers' jobs on a Ferrokiq server without Rails (a job file that loads Active Job)" do
    push_sidekiq8_job("sidekiq 8", "00000000000000000000aaaa")
    push_sidekiq8_job("rails 6.1", "00000000000000000000bbbb", job_class: wrapper)
    server = start_server(jobs: <<~RUBY, args: %w[-q ajspec_default])
      require "active_job"
      ActiveJob::Base.logger = Logger.new(nil)
      class EchoJob < ActiveJob::Base
        def perform(*args)
          Sidekiq.redis { |conn| conn.call("RPUSH", "ajspec:ran", Sidekiq.dump_json("jid" => provider_job_id, "args" => args)) }
        end
      end
    RUBY
    server.wait_until_running
    eventually { logged("ran").size >= 2 }

    expect(logged("ran")).to contain_exactly({ "jid" => "00000000000000000000aaaa", "args" => ["sidekiq 8"] },
                                             { "jid" => "00000000000000000000bbbb", "args" => ["rails 6.1"] })
  end

  describe "with Sidekiq 6.4.1", if: SidekiqPeer.available? do
    it "Sidekiq 6.4.1 runs Active Jobs Ferrokiq enqueued, now and scheduled" do
      @app.run(<<~RUBY)
        EchoJob.perform_later(1, "two", { "three" => 3.5 }, sym: :bol)
        EchoJob.set(wait: 1).perform_later("later")
      RUBY
      jids = raw_queue("ajspec_default").map { |json| JSON.parse(json)["jid"] } +
             sorted_set("schedule").map { |job, _| job["jid"] }

      SidekiqPeer.with_server(peer_active_job, redis_url: REDIS.url, queues: ["ajspec_default"]) do
        eventually(timeout: 45) { logged("ran").size >= 2 }
      end

      ran = logged("ran").to_h { |entry| [entry["jid"], entry] }
      expect(ran.keys).to match_array(jids)
      expect(ran.values.map { |entry| entry["by"] }).to all(eq("6.4.1"))
      expect(ran.values.map { |entry| [entry["args"], entry["options"]] })
        .to contain_exactly(['[1, "two", {"three"=>3.5}]', "{:sym=>:bol}"], ['["later"]', "{}"])
    end

    it "Ferrokiq runs Active Jobs Sidekiq 6.4.1 enqueued, which have the same shape as Ferrokiq's" do
      SidekiqPeer.run("#{peer_active_job}\nEchoJob.perform_later(1, \"two\", { \"three\" => 3.5 }, sym: :bol)\n",
                      redis_url: REDIS.url)
      @app.run('EchoJob.perform_later(1, "two", { "three" => 3.5 }, sym: :bol)')
      ours, theirs = raw_queue("ajspec_default").map { |json| JSON.parse(json) } # LPUSH: newest first

      expect(ours.keys).to eq(theirs.keys) # Rails 6.1's adapter in the peer, Ferrokiq's here
      expect(ours["args"].first.keys).to eq(theirs["args"].first.keys)
      varying = %w[jid created_at enqueued_at args]
      expect(ours.except(*varying)).to eq(theirs.except(*varying))
      # Rails sets Time.zone ("UTC"); the peer runs Active Job without Rails (no zone).
      per_job = %w[job_id enqueued_at timezone]
      expect(ours["args"].first.except(*per_job)).to eq(theirs["args"].first.except(*per_job))

      start_app_server
      eventually { logged("ran").size >= 2 }
      ran = logged("ran")
      expect(ran.map { |entry| entry["jid"] }).to contain_exactly(ours["jid"], theirs["jid"])
      expect(ran.map { |entry| [entry["by"], entry["args"], entry["options"]] })
        .to all(eq(["ferrokiq", '[1, "two", {"three"=>3.5}]', "{:sym=>:bol}"]))
      # The peer's class name resolves to Ferrokiq's JobWrapper on this server.
      expect(logged("wrappers"))
        .to all(eq("class" => wrapper, "superclass" => "Sidekiq::ActiveJob::Wrapper")).and(have_attributes(size: 2))
    end
  end
end
