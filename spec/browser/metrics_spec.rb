# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The Metrics pages in a real browser: the charts are drawn from Sidekiq 7's metrics keys (seeded
# as a server writes them), with no console error or CSP violation, in both colour schemes.
RSpec.describe "Metrics pages in a browser", :browser do
  after { BrowserScreens.colour_scheme(Browser.chromium, "") }

  # One minute of Sidekiq 7 metrics for +klass+, +minutes_ago+ before now: counts and a histogram.
  def seed_minute(klass, minutes_ago, processed:, failed: 0, millis: 0, bucket: 5)
    time = Time.now.utc - (minutes_ago * 60)
    key = "j|#{time.strftime("%Y%m%d")}|#{time.hour}:#{time.min}"
    redis("HINCRBY", key, "#{klass}|p", processed)
    redis("HINCRBY", key, "#{klass}|f", failed) if failed.positive?
    redis("HINCRBY", key, "#{klass}|ms", millis)
    redis("BITFIELD", "#{klass}-#{time.strftime("%d-%H")}:#{time.min}", "OVERFLOW", "SAT",
          "INCRBY", "u16", "##{bucket}", processed)
  end

  it "draws the classes' chart and a class's histogram" do
    20.times do |minute|
      seed_minute("InvoiceJob", minute, processed: 10 + minute, failed: minute % 3, millis: 900 + (minute * 40))
      seed_minute("MailerJob", minute, processed: 30, millis: 300, bucket: 2)
    end
    visit_ui("metrics")
    expect(page).to have_css("[data-chart] svg")
    expect(page).to have_link("InvoiceJob")
    BrowserScreens.save_light_and_dark(page, Browser.chromium, "metrics")

    click_link("InvoiceJob")
    expect(page).to have_current_path(%r{/metrics/InvoiceJob})
    expect(page).to have_css("[data-chart] svg", minimum: 1)
    # Each chart stays inside its box (a fixed-height box once let a tall chart spill over the
    # text below it).
    spilled = js(<<~JS)
      Array.from(document.querySelectorAll("[data-chart] svg")).filter(function (svg) {
        return svg.getBoundingClientRect().bottom > svg.parentElement.getBoundingClientRect().bottom + 1;
      }).length
    JS
    expect(spilled).to eq(0)
    BrowserScreens.save_light_and_dark(page, Browser.chromium, "metrics-class")
  end
end
