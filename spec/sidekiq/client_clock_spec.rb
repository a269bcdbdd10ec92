# frozen_string_literal: true

require "active_support"
require "active_support/core_ext/integer/time"
require "active_support/testing/time_helpers"
require "sidekiq/api"

# The client's timestamps follow Ruby's clock, so an app's tests that stub time (travel_to,
# Timecop) see enqueued_at, created_at and dead-set scores move together; ActiveSupport::Duration
# `at`s are intervals from now.
RSpec.describe "Client timestamps" do
  include ActiveSupport::Testing::TimeHelpers

  let(:job_class) { stub_const("ClockJob", Class.new { include Sidekiq::Job }) }
  let(:frozen) { Time.at(1_600_000_000) } # travel_to drops fractions of a second

  after { travel_back }

  def scheduled
    Sidekiq.redis { |conn| conn.call("ZRANGE", "schedule", 0, -1, "WITHSCORES") }
           .map { |json, score| [JSON.parse(json)["args"], Float(score)] }
  end

  it "stamps enqueued_at with the stubbed time, as created_at, on push and push_bulk" do
    travel_to(frozen) do
      job_class.perform_async(1)
      Sidekiq::Client.push_bulk("class" => job_class, "args" => [[2], [3]])
      job_class.set(queue: "other").perform_async(4) # not the bulk path
    end
    jobs = redis_json_list("queue:default") + redis_json_list("queue:other")
    expect(jobs.size).to eq(4)
    expect(jobs.map { |job| [job["created_at"], job["enqueued_at"]] }.uniq).to eq([[frozen.to_f, frozen.to_f]])
  end

  it "scores a job killed through the API with the stubbed time" do
    travel_to(frozen) { Sidekiq::DeadSet.new.kill(Sidekiq.dump_json("class" => "ClockJob", "args" => [], "jid" => "j1")) }
    expect(Sidekiq::DeadSet.new.map(&:score)).to eq([frozen.to_f])
  end

  it "uses the stubbed time in the batched Retry all and Kill all" do
    retry_set = Sidekiq::RetrySet.new
    3.times do |n|
      job = { "class" => "ClockJob", "args" => [n], "jid" => "r#{n}", "queue" => "default", "retry_count" => 1 }
      Sidekiq.redis { |conn| conn.call("ZADD", "retry", (1000 + n).to_s, Sidekiq.dump_json(job)) }
    end
    travel_to(frozen) { retry_set.kill_all }
    expect(Sidekiq::DeadSet.new.map(&:score).uniq).to eq([frozen.to_f])
    travel_to(frozen + 60) { Sidekiq::DeadSet.new.retry_all }
    expect(redis_json_list("queue:default").map { |job| job["enqueued_at"] }.uniq).to eq([frozen.to_f + 60])
  end

  it "reads ActiveSupport::Duration `at`s as that long from now, in push and push_bulk" do
    travel_to(frozen) do
      Sidekiq::Client.push_bulk("class" => job_class, "args" => [[1], [2]], "at" => [1.minute, 2.minutes])
      Sidekiq::Client.push_bulk("class" => job_class, "args" => [[3]], "at" => 3.minutes)
      Sidekiq::Client.push("class" => job_class, "args" => [4], "at" => 4.minutes)
    end
    expect(scheduled).to eq((1..4).map { |n| [[n], frozen.to_f + (60 * n)] })
  end
end
