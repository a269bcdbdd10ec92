# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The "Recurring jobs" tab in a browser: opened from its tab, "Enqueue now" and Disable/Enable
# clicked, checked against Redis; a hostile description stays text.
RSpec.describe "The recurring jobs tab in a browser", :browser do
  before(:all) do
    require "sidekiq-scheduler/web"
    Sidekiq::Web::Pages::RecurringJobs.install
  end

  after(:all) do
    Sidekiq::Web.tabs.delete(Sidekiq::Web::Pages::RecurringJobs::TAB)
    Sidekiq::Web.reset!
  end

  after { Sidekiq.instance_variable_set(:@schedule, nil) }

  def row(name)
    find(%(tr[data-name="#{name}"]))
  end

  it "lists the jobs, enqueues one now and disables and enables another" do
    Sidekiq.public_send(:schedule=, {
                          "report" => { "cron" => "0 0 1 1 *", "class" => "ReportJob", "queue" => "low",
                                        "args" => [7], "description" => %(<img src=x onerror="alert(1)">) },
                          "cleanup" => { "every" => "10m", "class" => "CleanupJob" }
                        })
    Sidekiq::Cron::Job.create("name" => "nightly", "cron" => "0 3 * * *", "class" => "NightlyJob")
    visit_ui
    find("nav a[data-navbar='custom-tab']", text: ui_text("RecurringJobs")).click

    expect(page).to have_current_path(ui_path("recurring-jobs"))
    expect(page).to have_css("h1 .fk-count", exact_text: "3")
    expect(row("report")).to have_text(%(<img src=x onerror="alert(1)">))
    expect(row("report")).to have_css("td[data-next-run] time[title$='UTC']")
    expect(row("cron_job:default:nightly")).to have_css("th", text: "nightly")
    BrowserScreens.save_light_and_dark(page, Browser.chromium, "recurring-jobs")

    after_page_load { row("report").click_button(ui_text("EnqueueNow")) }
    expect(redis("LRANGE", "queue:low", 0, -1).map { |json| JSON.parse(json).values_at("class", "args") })
      .to eq([["ReportJob", [7]]])

    after_page_load { row("cleanup").click_button(ui_text("Disable")) }
    expect(row("cleanup")).to have_css("td[data-state='disabled']", text: ui_text("Disabled"))
    expect(row("cleanup")).to have_css("td[data-next-run]", exact_text: "—")
    expect(redis("HGET", "sidekiq-scheduler:states", "cleanup")).to eq('{"enabled":false}')

    after_page_load { row("cleanup").click_button(ui_text("Enable")) }
    expect(row("cleanup")).to have_css("td[data-state='enabled']")
    expect(row("cleanup")).to have_css("td[data-next-run] time")
    expect(redis("HGET", "sidekiq-scheduler:states", "cleanup")).to eq('{"enabled":true}')
  end
end
