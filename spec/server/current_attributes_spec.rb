# frozen_string_literal: true

require "active_support"
require "active_support/current_attributes"
require "sidekiq/middleware/current_attributes"

# Sidekiq::CurrentAttributes: attributes set where a job is pushed are set again around its
# perform, in a real server, in jobs pushed from jobs, and across Sidekiq 6.4.1.
RSpec.describe "Sidekiq::CurrentAttributes" do
  CURRENT_CLASSES = <<~RUBY
    require "active_support"
    require "active_support/current_attributes"

    class Current < ActiveSupport::CurrentAttributes
      attribute :user_id, :tenant
    end

    class Audit < ActiveSupport::CurrentAttributes
      attribute :request_id
    end
  RUBY

  CURRENT_JOBS = <<~RUBY
    #{CURRENT_CLASSES}
    require "sidekiq/middleware/current_attributes"
    Sidekiq::CurrentAttributes.persist(%w[Current Audit])

    class SeeCurrentJob
      include Sidekiq::Job
      def perform(label, push_child = false)
        seen = [label, Current.user_id, Current.tenant, Audit.request_id]
        Sidekiq.redis { |conn| conn.rpush("seen", Sidekiq.dump_json(seen)) }
        SeeCurrentJob.perform_async("child of \#{label}") if push_child
      end
    end
  RUBY

  before do
    eval(CURRENT_CLASSES, TOPLEVEL_BINDING) unless defined?(::Current) # rubocop:disable Security/Eval
    stub_const("SeeCurrentJob", Class.new { include Sidekiq::Job })
    Sidekiq::CurrentAttributes.persist(%w[Current Audit])
  end

  after do
    Sidekiq.default_configuration.client_middleware.remove(Sidekiq::CurrentAttributes::Save)
    Sidekiq.default_configuration.server_middleware.remove(Sidekiq::CurrentAttributes::Load)
    ActiveSupport::CurrentAttributes.reset_all
  end

  def seen
    redis_json_list("seen")
  end

  it "stores each class's attributes under Sidekiq's keys when the job is pushed" do
    Current.set(user_id: 7, tenant: "acme") { Audit.set(request_id: "r-1") { SeeCurrentJob.perform_async("a") } }
    # What Rails does between requests; within one, `set`'s block leaves the keys with nil values.
    ActiveSupport::CurrentAttributes.reset_all
    SeeCurrentJob.perform_async("none set")
    payloads = redis_json_list("queue:default").to_h { |job| [job["args"].first, job] }
    expect(payloads["a"]).to include("cattr" => { "user_id" => 7, "tenant" => "acme" },
                                     "cattr_1" => { "request_id" => "r-1" })
    expect(payloads["none set"].keys).not_to include("cattr", "cattr_1")
  end

  it "keeps the attributes a job was first pushed with when it is pushed again" do
    job = { "class" => "SeeCurrentJob", "args" => ["again"], "cattr" => { "user_id" => 1 } }
    Current.set(user_id: 2) { Sidekiq::Client.push(job) }
    expect(redis_json_list("queue:default").first["cattr"]).to eq("user_id" => 1)
  end

  it "sets them around perform in a real server, in jobs pushed from jobs, and resets them after" do
    Current.set(user_id: 7, tenant: "acme") do
      Audit.set(request_id: "r-1") { SeeCurrentJob.perform_async("parent", true) }
    end
    server = start_server(jobs: CURRENT_JOBS, args: %w[-c 1])
    eventually { seen.size == 2 }
    ActiveSupport::CurrentAttributes.reset_all
    SeeCurrentJob.perform_async("later, nothing set")
    eventually { seen.size == 3 }
    expect(seen).to eq([["parent", 7, "acme", "r-1"], ["child of parent", 7, "acme", "r-1"],
                        ["later, nothing set", nil, nil, nil]])
    expect(server.stop).to be_success
  end

  it "drops an attribute the class no longer has instead of failing the job" do
    Sidekiq::Client.push("class" => "SeeCurrentJob", "args" => ["old payload"],
                         "cattr" => { "user_id" => 3, "removed_since" => "x" })
    server = start_server(jobs: CURRENT_JOBS, args: %w[-c 1])
    eventually { seen.size == 1 }
    expect(seen).to eq([["old payload", 3, nil, nil]])
    expect(server.stop).to be_success
  end

  context "with Sidekiq 6.4.1", if: SidekiqPeer.available? do
    PEER_CURRENT = <<~RUBY
      #{CURRENT_CLASSES}
      require "sidekiq/middleware/current_attributes"
      Sidekiq::CurrentAttributes.persist(Current)

      class SeeCurrentJob
        include Sidekiq::Worker
        def perform(label, *)
          Sidekiq.redis { |conn| conn.rpush("seen", JSON.generate([label, Current.user_id, Current.tenant])) }
        end
      end
    RUBY

    it "runs Ferrokiq's jobs with their attributes, and Ferrokiq runs 6.4.1's" do
      Current.set(user_id: 9, tenant: "t9") { SeeCurrentJob.perform_async("from ferrokiq") }
      SidekiqPeer.with_server(PEER_CURRENT, redis_url: REDIS.url) { eventually { seen.size == 1 } }
      expect(seen).to eq([["from ferrokiq", 9, "t9"]])

      SidekiqPeer.run(<<~RUBY, redis_url: REDIS.url)
        #{PEER_CURRENT}
        Current.set(user_id: 5, tenant: "t5") { SeeCurrentJob.perform_async("from 6.4.1") }
      RUBY
      server = start_server(jobs: CURRENT_JOBS, args: %w[-c 1])
      eventually { seen.size == 2 }
      expect(seen.last).to eq(["from 6.4.1", 5, "t5", nil])
      expect(server.stop).to be_success
    end
  end
end
