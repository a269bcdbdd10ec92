# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# Job data holding markup, on every page that shows job data: the browser must show it as text
# and run none of it. The markup would set globals and open an alert if it ever became HTML.
RSpec.describe "Hostile job data in a browser", :browser do
  let(:img) { BrowserSeed::Hostile::IMG }
  let(:script) { BrowserSeed::Hostile::SCRIPT }
  let(:alert) { BrowserSeed::Hostile::ALERT }

  def expect_nothing_ran
    expect { Browser.chromium.switch_to.alert }.to raise_error(Selenium::WebDriver::Error::NoSuchAlertError)
    expect(js("[typeof window.__x, typeof window.__y]")).to eq(%w[undefined undefined])
  end

  def visit_and_check(path, *texts)
    visit_ui(path)
    expect_nothing_ran
    texts.each { |text| expect(page).to have_text(text) }
  end

  def open_entry(list, jid)
    visit_ui(list)
    find(%(a[href*="-#{jid}"])).click
    expect_nothing_ran
  end

  it "shows markup in arguments, class names and errors as text on every page, and runs none of it" do
    enqueue(script, img, alert, queue: "default")
    retry_jid = add_retry(img, script, error: "#{script} #{alert}", error_class: img)
    dead_jid = add_dead(script, img, error: img, error_class: script)
    scheduled_jid = schedule(alert, script)
    add_process("worker-1.example", 4101, jobs: [["default", script, [img, alert]]])

    visit_and_check("queues/default", script, img, alert)
    visit_and_check("retries", img, script, alert)
    visit_and_check("morgue", script, img)
    visit_and_check("scheduled", alert, script)
    visit_and_check("busy", script, img, alert)
    visit_and_check("retries?substr=#{CGI.escape(img)}", img)

    open_entry("retries", retry_jid)
    [img, script, alert].each { |text| expect(page).to have_text(text) }
    open_entry("morgue", dead_jid)
    [img, script].each { |text| expect(page).to have_text(text) }
    open_entry("scheduled", scheduled_jid)
    [alert, script].each { |text| expect(page).to have_text(text) }
  end
end
