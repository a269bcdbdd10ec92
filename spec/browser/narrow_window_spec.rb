# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The UI in a phone-sized window (375 px): no page scrolls sideways as a whole (wide tables
# scroll inside their own box), and the nav and the tables' links still work.
RSpec.describe "The UI in a narrow window", :browser do
  let(:paths) { ["", "busy", "queues", "queues/default", "retries", "scheduled", "morgue"] }

  before { Browser.chromium.manage.window.resize_to(375, 812) }
  after { Browser.chromium.manage.window.resize_to(Browser::WIDTH, Browser::HEIGHT) }

  def sideways_overflow
    js("document.documentElement.scrollWidth - window.innerWidth")
  end

  # The elements whose right edge is the page's: what makes it scroll sideways.
  def widest_elements
    js(<<~JS)
      Array.prototype.filter.call(document.querySelectorAll("body *"), function (el) {
        return Math.abs(el.getBoundingClientRect().right + window.scrollX - document.documentElement.scrollWidth) < 1;
      }).map(function (el) { return el.outerHTML.slice(0, 120); })
    JS
  end

  it "fits every page in the width, with working nav and table links" do
    seed_world
    visit_ui
    expect(js("window.innerWidth")).to be <= 375

    paths.each do |path|
      visit_ui(path)
      expect(sideways_overflow).to be <= 0, "#{ui_path(path)} is wider than the window by #{sideways_overflow} px: " \
                                            "#{widest_elements.join(", ")}"
      BrowserScreens.save(page, "narrow-#{path.empty? ? "dashboard" : path.tr("/", "-")}")
    end

    find("nav a[href='#{ui_path("morgue")}']").click
    expect(page).to have_current_path(ui_path("morgue"))
    find("nav a[href='#{ui_path("retries")}']").click
    expect(page).to have_current_path(ui_path("retries"))
    first("form[data-bulk] tbody a[href*='retries/']").click
    expect(page).to have_css(".fk-backtrace")
    expect(sideways_overflow).to be <= 0
  end
end
