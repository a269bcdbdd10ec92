# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/browser"

# A plugin's page as Sidekiq 7.3 plugins add one (`register` with name/tab/index/root_dir/
# asset_paths): a tab, a view with its own stylesheet through `style_tag`, a form that posts.
# Its files are in fixtures/notes_extension.
module BrowserNotesExtension
  ROOT = File.expand_path("fixtures/notes_extension", __dir__)
  NOTE_KEY = "browser-spec:note"

  def self.registered(app)
    app.get("/notes") do
      note = Sidekiq.redis { |conn| conn.call("GET", NOTE_KEY) }
      erb(File.read(File.join(ROOT, "views", "notes.erb")), locals: { note: })
    end
    app.post("/notes") do
      Sidekiq.redis { |conn| conn.call("SET", NOTE_KEY, params["note"].to_s) }
      redirect("#{root_path}notes")
    end
  end
end

RSpec.describe "An extension's tab in a browser", :browser do
  root = BrowserNotesExtension::ROOT

  # Sidekiq::Web's settings are global: the extension is there for these examples only, so the
  # other specs see the tabs, locales and assets they expect.
  before(:all) do
    Sidekiq::Web.register(BrowserNotesExtension, name: "notes", tab: "NotesTab", index: "notes", root_dir: root,
                                                 asset_paths: ["css"])
  end

  after(:all) do
    Sidekiq::Web.tabs.delete("NotesTab")
    Sidekiq::Web.locales.delete(File.join(root, "locales"))
    Sidekiq::Web.static_roots.reject! { |_, assets, _| assets == File.join(root, "assets") }
    Sidekiq::Web.reset!
  end

  def computed(selector, property)
    js("getComputedStyle(document.querySelector(#{selector.to_json})).getPropertyValue(#{property.to_json})")
  end

  it "opens from its tab, styled by its own stylesheet, and saves through its form" do
    visit_ui
    find("nav a[data-navbar='custom-tab']", text: "Notes").click

    expect(page).to have_current_path(ui_path("notes"))
    expect(page).to have_css("nav a[aria-current='page']", text: "Notes")
    expect(page).to have_css("h1", text: "Operator notes")
    expect(page).to have_css(".notes-current", text: "Nothing noted yet")
    expect(computed(".notes-current", "border-left-width")).to eq("6px")
    expect(computed(".notes-current", "border-left-color")).to eq("rgb(0, 128, 128)")
    BrowserScreens.save_light_and_dark(page, Browser.chromium, "extension")

    fill_in("notes-text", with: "deploy at 15:00 <b>UTC</b>")
    click_button("Save note")
    expect(page).to have_css(".notes-current", text: "deploy at 15:00 <b>UTC</b>")
    expect(redis("GET", BrowserNotesExtension::NOTE_KEY)).to eq("deploy at 15:00 <b>UTC</b>")
  end
end
