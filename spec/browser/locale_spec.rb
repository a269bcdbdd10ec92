# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The footer's language picker in a real browser: picking a language sends the form by itself,
# the choice stays for the session, and right-to-left languages turn the page around.
RSpec.describe "The language picker in a browser", :browser do
  def pick_language(lang)
    after_page_load { find("#locale-form select#locale").find("option[value='#{lang}']").select_option }
  end

  it "switches to a right-to-left language and back to English" do
    visit_ui("retries")
    offered = find("select#locale").all("option", visible: :all).map(&:value)
    rtl = (offered & Sidekiq::Web::Locales::RTL).first
    expect(rtl).not_to be_nil, "the picker offers no right-to-left language (#{offered.join(", ")})"

    pick_language(rtl)
    expect(page).to have_css("html[dir='rtl'][lang='#{rtl}']")
    expect(page).to have_current_path(ui_path("retries"))
    expect(find("select#locale").value).to eq(rtl)
    BrowserScreens.save_light_and_dark(page, Browser.chromium, "retries-#{rtl}")

    visit_ui("queues")
    expect(page).to have_css("html[dir='rtl'][lang='#{rtl}']")

    pick_language("en")
    expect(page).to have_css("html[dir='ltr'][lang='en']")
    expect(page).to have_current_path(ui_path("queues"))
    expect(page).to have_css("h1", text: ui_text("Queues"))
  end
end
