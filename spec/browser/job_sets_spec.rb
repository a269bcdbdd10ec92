# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# The retry, scheduled and dead sets in a real browser: the buttons, the bulk form's checkboxes,
# the confirmations and the filter, checked against what ends up in Redis.
RSpec.describe "Job set pages in a browser", :browser do
  def row_box(jid)
    find(%(form[data-bulk] input[name="key[]"][value$="-#{jid}"]))
  end

  def bulk_button(action)
    find(%(form[data-bulk] button[name="#{action}"]))
  end

  def all_button(set, action)
    find(%(form[action="#{ui_path("#{set}/all/#{action}")}"] button))
  end

  def queued_jids(queue = "default")
    redis("LRANGE", "queue:#{queue}", 0, -1).map { |json| JSON.parse(json)["jid"] }
  end

  def count_badge
    find("h1 .fk-count")
  end

  describe "retries" do
    let!(:jids) { [add_retry("ReportJob", 1), add_retry("ReportJob", 2), add_retry("MailerJob", "ann@example.com")] }

    it "runs one checked job again now" do
      visit_ui("retries")
      expect(count_badge).to have_text("3")
      row_box(jids[1]).check
      bulk_button("retry").click

      expect(page).to have_css("h1 .fk-count", exact_text: "2")
      expect(page).to have_css("[data-stat='retries']", exact_text: "2")
      expect(redis("ZCARD", "retry")).to eq(2)
      expect(queued_jids).to eq([jids[1]])
    end

    it "checks every row with the check-all box and moves them all to the dead set" do
      visit_ui("retries")
      find("form[data-bulk] input[data-check-all]").check
      boxes = all(%(form[data-bulk] input[name="key[]"]), minimum: 3)
      expect(boxes.reject(&:checked?)).to be_empty

      accept_confirm(ui_text("ConfirmKill")) { bulk_button("kill").click }

      expect(page).to have_css(".fk-empty", text: ui_text("NoEntries"))
      expect(redis("ZCARD", "retry")).to eq(0)
      expect(Sidekiq::DeadSet.new.map(&:jid)).to match_array(jids)
    end

    it "deletes nothing when the Delete all confirmation is dismissed, and everything when accepted" do
      visit_ui("retries")
      confirmation = ui_text("ConfirmDeleteAll", count: "3")

      dismiss_confirm(confirmation) { all_button("retries", "delete").click }
      expect(page).to have_current_path(ui_path("retries"))
      expect(count_badge).to have_text("3")
      expect(redis("ZCARD", "retry")).to eq(3)

      accept_confirm(confirmation) { all_button("retries", "delete").click }
      expect(page).to have_css(".fk-empty", text: ui_text("NoEntries"))
      expect(redis("ZCARD", "retry")).to eq(0)
    end

    it "filters by a substring in the URL and hides the buttons that act on the whole set" do
      visit_ui("retries")
      expect(page).to have_css("[data-all-actions]")
      fill_in("fk-substr", with: "MailerJob").send_keys(:enter)

      expect(page).to have_current_path(/[?&]substr=MailerJob/)
      expect(page).to have_css("form[data-bulk] tbody tr", count: 1)
      expect(page).to have_css("form[data-bulk] tbody code", text: "MailerJob")
      expect(page).to have_no_css("[data-all-actions]")
      expect(page).to have_no_css(%(form[action*="/all/"]))
      expect(find_field("fk-substr").value).to eq("MailerJob")
    end

    it "opens an entry showing its arguments, error and backtrace" do
      visit_ui("retries")
      find(%(a[href*="-#{jids[2]}"])).click

      expect(page).to have_css("h1", text: "MailerJob")
      expect(page).to have_css(".fk-args", text: '"ann@example.com"')
      expect(page).to have_text("connection refused")
      BrowserSeed::BACKTRACE.each { |line| expect(page).to have_css(".fk-backtrace", text: line) }
    end
  end

  describe "scheduled" do
    it "enqueues a scheduled job from its page" do
      later = schedule("DigestJob", "weekly", delay: 7200)
      schedule("DigestJob", "daily", delay: 600)
      visit_ui("scheduled")
      find(%(a[href*="-#{later}"])).click
      find(%(button[name="add_to_queue"])).click

      expect(page).to have_current_path(ui_path("scheduled"))
      expect(page).to have_css("h1 .fk-count", exact_text: "1")
      expect(redis("ZCARD", "schedule")).to eq(1)
      expect(queued_jids).to eq([later])
    end
  end

  describe "dead" do
    it "runs a checked dead job again now" do
      gone = add_dead("SyncJob", "acct-1")
      kept = add_dead("SyncJob", "acct-2")
      visit_ui("morgue")
      row_box(gone).check
      bulk_button("retry").click

      expect(page).to have_css("h1 .fk-count", exact_text: "1")
      expect(Sidekiq::DeadSet.new.map(&:jid)).to eq([kept])
      expect(queued_jids).to eq([gone])
    end
  end
end
