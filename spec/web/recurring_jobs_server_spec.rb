# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# A job disabled on the "Recurring jobs" page stops being pushed by a running `exe/sidekiq`, and
# runs again once enabled: the page writes what the server's scheduler reads on every pass.
# Paced by the server's own pushes of a second entry, never by the clock.
RSpec.describe "Sidekiq::Web recurring jobs with a running server", :web do # rubocop:disable Metrics/BlockLength
  jobs = <<~RUBY
    class TickJob
      include Sidekiq::Job
      def perform(label)
        Sidekiq.redis { |conn| conn.rpush("ticks", label) }
      end
    end
  RUBY

  before(:all) do
    require "sidekiq-scheduler/web"
    Sidekiq::Web::Pages::RecurringJobs.install
  end

  after(:all) do
    Sidekiq::Web.tabs.delete(Sidekiq::Web::Pages::RecurringJobs::TAB)
    Sidekiq::Web.reset!
  end

  after { Sidekiq.instance_variable_set(:@schedule, nil) }

  def ticks(label)
    redis_list("ticks").count(label)
  end

  # Waits until the pacing entry has been pushed +passes+ more times.
  def after_passes(passes)
    target = ticks("pacer") + passes
    eventually { ticks("pacer") >= target }
  end

  it "stops pushing a job disabled from the page and pushes it again once enabled" do
    every_second = ->(label) { { "cron" => "* * * * * *", "class" => "TickJob", "args" => [label] } }
    Sidekiq.public_send(:schedule=, %w[pacer toggled].to_h { |label| [label, every_second.call(label)] })
    start_server(jobs:)
    eventually { ticks("toggled") >= 1 }

    post_form("/sidekiq/recurring-jobs/disable", { "name" => "toggled" }, page: "/sidekiq/recurring-jobs")
    expect(last_response.status).to eq(302)
    # A pass that began before the POST may still push it once.
    allowed = ticks("toggled") + 1
    after_passes(3)
    stopped_at = ticks("toggled")
    expect(stopped_at).to be <= allowed
    after_passes(3)
    expect(ticks("toggled")).to eq(stopped_at)

    post_form("/sidekiq/recurring-jobs/enable", { "name" => "toggled" }, page: "/sidekiq/recurring-jobs")
    eventually { ticks("toggled") > stopped_at }
  end
end
