# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The busy page in a real browser: a process's quiet button, and live polling (the page and the
# summary bar follow Redis while it is on).
RSpec.describe "The busy page in a browser", :browser do
  let!(:first) { add_process("worker-1.example", 4101, jobs: [["default", "InvoiceJob", [1003]]]) }
  let!(:second) { add_process("worker-2.example", 4102) }

  def live_poll
    find("#live-poll")
  end

  def stored(key)
    js("window.localStorage.getItem(#{key.to_json})")
  end

  it "quiets one process: its signal list gets TSTP and the others get nothing" do
    visit_ui("busy")
    process_row = find("section[aria-labelledby='fk-processes-title'] tbody tr", text: "worker-1.example")
    after_page_load { process_row.find(%(button[name="quiet"])).click }

    expect(redis("LRANGE", "#{first}-signals", 0, -1)).to eq(["TSTP"])
    expect(redis("EXISTS", "#{second}-signals")).to eq(0)
  end

  it "follows Redis while live poll is on, and stops when it is switched off" do
    visit_ui("busy")
    # The shortest interval the UI allows, so the example waits for two seconds, not five.
    execute_script("window.localStorage.setItem('sidekiqTimeInterval', '2000')")
    visit_ui("busy")
    expect(page).to have_css("#live-poll[aria-pressed='false']")
    expect(page).to have_css("[data-stat='busy']", exact_text: "1")

    live_poll.click
    expect(page).to have_css("#live-poll[aria-pressed='true']")
    expect(stored("sidekiqLivePoll")).to eq("enabled")
    add_process("worker-3.example", 4103, jobs: [["default", "ExportJob", [7]], ["default", "ExportJob", [8]]])

    expect(page).to have_css("#page tr", text: "worker-3.example")
    expect(page).to have_css("#fk-processes-title .fk-count", exact_text: "3")
    expect(page).to have_css("[data-stat='busy']", exact_text: "3")

    live_poll.click
    expect(page).to have_css("#live-poll[aria-pressed='false']")
    expect(stored("sidekiqLivePoll")).to eq("disabled")
  end

  it "turns live poll on from ?poll=true in the URL" do
    visit_ui("busy?poll=true")
    expect(page).to have_css("#live-poll[aria-pressed='true']")
  end
end
