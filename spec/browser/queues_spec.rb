# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The queue list and one queue's page in a real browser.
RSpec.describe "Queue pages in a browser", :browser do
  it "shows a long argument in full after its expander is clicked, and hides it again" do
    enqueue("ExportJob", BrowserSeed::LONG_ARG)
    enqueue("InvoiceJob", 1)
    visit_ui("queues/default")
    toggle = find("[data-toggle-args]")
    expect(toggle["aria-expanded"]).to eq("false")
    expect(page).to have_no_text(BrowserSeed::LONG_ARG)

    toggle.click
    expect(page).to have_css("[data-full]", text: BrowserSeed::LONG_ARG)
    expect(toggle["aria-expanded"]).to eq("true")

    toggle.click
    expect(page).to have_no_css("[data-full]")
    expect(toggle["aria-expanded"]).to eq("false")
  end

  it "deletes a queue once its confirmation is accepted, and keeps it when dismissed" do
    2.times { |index| enqueue("AlertJob", index, queue: "critical") }
    enqueue("InvoiceJob", 1)
    visit_ui("queues")
    delete_critical = -> { find("tr", text: "critical").find(%(button[name="delete"])).click }
    confirmation = ui_text("ConfirmDeleteQueue", queue: "critical")

    dismiss_confirm(confirmation, &delete_critical)
    expect(page).to have_link("critical")
    expect(redis("LLEN", "queue:critical")).to eq(2)

    accept_confirm(confirmation, &delete_critical)
    expect(page).to have_no_link("critical")
    expect(page).to have_link("default")
    expect(redis("EXISTS", "queue:critical")).to eq(0)
    expect(redis("SISMEMBER", "queues", "critical")).to eq(0)
    expect(redis("LLEN", "queue:default")).to eq(1)
  end
end
