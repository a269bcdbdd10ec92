# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The "Locks" tab in a browser: opened from its tab, filtered, one lock opened and deleted after
# its confirmation, then all of them; checked against Redis.
RSpec.describe "The locks tab in a browser", :browser do
  before(:all) do
    require "sidekiq_unique_jobs/web"
    Sidekiq::Web::Pages::Locks.install
  end

  after(:all) do
    Sidekiq::Web.tabs.delete(Sidekiq::Web::Pages::Locks::TAB)
    Sidekiq::Web.reset!
  end

  def push_locked(*args)
    Sidekiq::Client.push("class" => "LockedJob", "args" => args, "lock" => "until_executed")
  end

  def digests
    redis("ZRANGE", "uniquejobs:digests", 0, -1)
  end

  it "filters, shows one lock, deletes it after confirming, then deletes the rest" do
    jids = [push_locked(1), push_locked(2), push_locked(3)]
    first = Sidekiq::Queue.new.find { |job| job.jid == jids.first }["lock_digest"]
    visit_ui
    find("nav a[data-navbar='custom-tab']", text: ui_text("Locks")).click

    expect(page).to have_current_path(ui_path("locks"))
    expect(page).to have_css("h1 .fk-count", exact_text: "3")
    BrowserScreens.save_light_and_dark(page, Browser.chromium, "locks")

    fill_in("fk-lock-filter", with: first[-8..])
    click_button(ui_text("Filter"))
    expect(page).to have_css("tr[data-digest]", count: 1)
    find("tr[data-digest='#{first}'] a").click
    expect(page).to have_css("table[data-holders] code", exact_text: jids.first)

    dismiss_confirm(ui_text("ConfirmDeleteLock")) { click_button(ui_text("DeleteLock")) }
    expect(digests).to include(first)
    accept_confirm(ui_text("ConfirmDeleteLock")) { click_button(ui_text("DeleteLock")) }
    expect(page).to have_css("h1 .fk-count", exact_text: "2")
    expect(digests).not_to include(first)
    expect(redis("EXISTS", "#{first}:LOCKED")).to eq(0)

    accept_confirm(ui_text("ConfirmDeleteAllLocks", count: "2")) { click_button(ui_text("DeleteAll")) }
    expect(page).to have_css(".fk-empty", text: ui_text("NoLocks"))
    expect(digests).to be_empty
  end
end
