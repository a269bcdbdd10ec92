# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The colour schemes: the UI follows prefers-color-scheme (emulated, not the machine's setting),
# and every page is photographed in both (tmp/screenshots/<page>-light.png and -dark.png).
RSpec.describe "The UI's colour schemes in a browser", :browser do
  # Screenshot name => path.
  let(:pages) do
    { "dashboard" => "", "busy" => "busy", "queues" => "queues", "queue" => "queues/default",
      "retries" => "retries", "scheduled" => "scheduled", "morgue" => "morgue" }
  end
  # Screenshot name => the list whose first entry is opened.
  let(:entries) { { "retry-entry" => "retries", "scheduled-entry" => "scheduled", "morgue-entry" => "morgue" } }

  after { BrowserScreens.colour_scheme(Browser.chromium, "") }

  # [red, green, blue] of an element's computed colour property.
  def rgb(selector, property)
    value = js("getComputedStyle(document.querySelector(#{selector.to_json})).getPropertyValue(#{property.to_json})")
    value.scan(/\d+(?:\.\d+)?/).first(3).map(&:to_f)
  end

  # Relative luminance, roughly (no gamma): enough to tell a dark background from a light one.
  def brightness(rgb)
    red, green, blue = rgb
    (0.2126 * red) + (0.7152 * green) + (0.0722 * blue)
  end

  it "darkens the page when the browser prefers a dark scheme" do
    visit_ui
    BrowserScreens.colour_scheme(Browser.chromium, "light")
    light_background = rgb("body", "background-color")
    light_text = rgb("body", "color")

    BrowserScreens.colour_scheme(Browser.chromium, "dark")
    dark_background = rgb("body", "background-color")
    expect(dark_background).not_to eq(light_background)
    expect(brightness(dark_background)).to be < brightness(light_background)
    expect(brightness(rgb("body", "color"))).to be > brightness(light_text)
  end

  it "tells a blank screenshot from a rendered page" do
    Browser.chromium.navigate.to("about:blank")
    expect { BrowserScreens.save(page, "blank") }.to raise_error(BrowserScreens::Blank)
    visit_ui
    expect(BrowserPng.several_colours?(BrowserScreens.save(page, "not-blank"))).to be(true)
  end

  it "photographs every page in the light and the dark scheme" do
    seed_world
    pages.each do |name, path|
      visit_ui(path)
      BrowserScreens.save_light_and_dark(page, Browser.chromium, name)
    end
    entries.each do |name, list|
      visit_ui(list)
      first("form[data-bulk] tbody a[href*='#{list}/']").click
      expect(page).to have_css("#fk-fields-title")
      BrowserScreens.save_light_and_dark(page, Browser.chromium, name)
    end
    expect(Dir[File.join(BrowserScreens::DIR, "*-dark.png")].size).to be >= pages.size + entries.size
  end
end
