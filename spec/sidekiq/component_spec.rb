# frozen_string_literal: true

require "sidekiq/component"

# Sidekiq::Component, as plugins include it, and the other small pieces of 7.3's surface they
# call: sidekiq_class_attribute and Sidekiq.gem_version.
RSpec.describe Sidekiq::Component do
  let(:plugin_class) do
    Class.new do
      include Sidekiq::Component

      def initialize(config)
        @config = config
      end
    end
  end
  let(:config) { Sidekiq.default_configuration }
  let(:plugin) { plugin_class.new(config) }

  it "gives the configuration, its logger and Redis" do
    expect(plugin.config).to be(config)
    expect(plugin.logger).to be(config.logger)
    expect(plugin.redis { |conn| conn.call("PING") }).to eq("PONG")
  end

  it "reports through the error handlers, from #handle_exception and from a dying safe_thread" do
    reported = Queue.new
    handler = ->(error, context, *) { reported << [error.message, context] }
    # Only ours: the default handler would log both errors, and Ruby would print the thread's.
    saved_handlers = config.error_handlers.dup
    config.error_handlers.replace([handler])
    reporting = Thread.report_on_exception
    Thread.report_on_exception = false
    plugin.handle_exception(RuntimeError.new("direct"), { context: "poller" })
    thread = plugin.safe_thread("reaper") { raise "thread died" }
    expect { thread.join }.to raise_error(RuntimeError, "thread died")
    expect(thread.name).to eq("sidekiq.reaper")
    expect([reported.pop, reported.pop]).to eq([["direct", { context: "poller" }],
                                                ["thread died", { context: "reaper" }]])
  ensure
    config.error_handlers.replace(saved_handlers) if saved_handlers
    Thread.report_on_exception = reporting unless reporting.nil?
  end

  it "fires lifecycle events once" do
    fired = []
    config.on(:heartbeat) { fired << :beat }
    plugin.fire_event(:heartbeat, oneshot: false)
    plugin.fire_event(:heartbeat, oneshot: false)
    expect(fired).to eq(%i[beat beat])
  ensure
    config[:lifecycle_events][:heartbeat].clear
  end

  it "names the thread, host and process as the heartbeat does" do
    expect(plugin.tid).to eq(Sidekiq.tid)
    expect(plugin.hostname).to eq(Socket.gethostname)
    expect(plugin.identity).to match(/\A#{Regexp.escape(Socket.gethostname)}:#{Process.pid}:\h{12}\z/o)
    expect(plugin.identity).to end_with(plugin.process_nonce)
    expect(plugin_class.new(config).identity).to eq(plugin.identity)
  end

  it "is the identity a running server registers" do
    jobs = <<~RUBY
      require "sidekiq/component"
      class IdentityJob
        include Sidekiq::Job
        def perform
          Sidekiq.redis { |conn| conn.rpush("identity", Sidekiq::Component.identity) }
        end
      end
    RUBY
    Sidekiq::Client.push("class" => "IdentityJob", "args" => [])
    server = start_server(jobs:)
    eventually { redis_list("identity").size == 1 }
    # The first heartbeat is written by its own thread, as in Sidekiq: a job can run before it.
    eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.any? }
    expect(Sidekiq.redis { |conn| conn.smembers("processes") }).to eq(redis_list("identity"))
    expect(server.stop).to be_success
  end
end

RSpec.describe "sidekiq_class_attribute" do
  let(:parent) do
    Class.new do
      include Sidekiq::Job
      sidekiq_class_attribute :throttle
    end
  end
  let(:child) { Class.new(parent) }

  it "is inherited until a subclass sets its own, and instances read it until they set theirs" do
    parent.throttle = 5
    expect(child.throttle).to eq(5)
    child.throttle = 1
    expect([parent.throttle, child.throttle]).to eq([5, 1])
    job = child.new
    expect(job.throttle).to eq(1)
    job.throttle = 9
    expect([job.throttle, child.throttle, child.new.throttle]).to eq([9, 1, 1])
  end

  it "backs sidekiq_options the same way" do
    parent.sidekiq_options(queue: "slow")
    child.sidekiq_options(retry: 2)
    expect(parent.get_sidekiq_options).not_to include("retry" => 2)
    expect(child.get_sidekiq_options).to include("queue" => "slow", "retry" => 2)
    expect(child.new.sidekiq_options_hash).to eq(child.get_sidekiq_options)
  end
end

RSpec.describe "Sidekiq.gem_version" do
  it "is Sidekiq::VERSION as a Gem::Version, so plugins' comparisons take their 7.x paths" do
    expect(Sidekiq.gem_version).to eq(Gem::Version.new(Sidekiq::VERSION))
    expect(Sidekiq.gem_version).to be >= Gem::Version.new("7.0")
    expect(Sidekiq.gem_version).to be < Gem::Version.new("8")
  end
end
