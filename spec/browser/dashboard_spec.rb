# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The dashboard in a real browser: the realtime chart drawn from polls of /stats (which also
# refresh the summary bar and the Redis box), its interval slider, and the history chart's spans.
RSpec.describe "The dashboard in a browser", :browser do
  def stored_interval
    js("window.localStorage.getItem('sidekiqTimeInterval')")
  end

  def plotted
    find("#realtime-chart[data-points]")["data-points"].to_i
  end

  # The dashboard polling at the UI's shortest interval, so examples wait two seconds, not five.
  def visit_polling_dashboard
    visit_ui
    execute_script("window.localStorage.setItem('sidekiqTimeInterval', '2000')")
    visit_ui
  end

  it "plots each poll of /stats and updates the summary bar and the Redis box from it" do
    visit_polling_dashboard
    expect(page).to have_css("[data-stat='enqueued']", exact_text: "0")
    before = plotted

    3.times { |index| enqueue("InvoiceJob", index) }
    redis("INCRBY", "stat:processed", "1234")
    expect(page).to have_css("[data-stat='enqueued']", exact_text: "3")
    expect(page).to have_css("[data-stat='processed']", exact_text: "1,234")
    expect(page).to have_css("#realtime-chart") { |chart| chart["data-points"].to_i >= before + 1 }
    expect(page).to have_css("#realtime-chart") { |chart| chart["data-points"].to_i >= 2 }
    expect(page).to have_css("#realtime-chart *")

    # Rendered by the server too: blanked here, so only a poll can fill it in again.
    execute_script("document.querySelector('[data-redis=\"redis_version\"]').textContent = ''")
    version = redis("INFO", "server")[/^redis_version:(\S+)/, 1]
    expect(page).to have_css("[data-redis='redis_version']", exact_text: version)
  end

  it "keeps the interval slider's setting in localStorage, in milliseconds" do
    visit_ui
    slider = find("#poll-interval")
    expect(slider.value).to eq("5")
    expect([slider[:min], slider[:max]]).to eq(%w[2 20])

    slider.set(3)
    expect(stored_interval).to eq("3000")
    visit_ui
    expect(find("#poll-interval").value).to eq("3")
  end

  it "switches the history chart's span with its links" do
    visit_ui
    expect(page).to have_css("#history-chart")
    find("a[data-days='7']").click

    expect(page).to have_current_path(/[?&]days=7\b/)
    expect(page).to have_css("a[data-days='7'][aria-current='page']")
    expect(page).to have_css("a[aria-current='page'][data-days]", count: 1)
    expect(page).to have_css("#history-chart *")
  end
end
