# frozen_string_literal: true

require "tmpdir"
require "fileutils"
require_relative "../spec_helper"
require_relative "../support/web_helpers"

# Extensions in the shapes plugins use: Sidekiq 7.3's keyword register with assets and locales,
# the older register + tabs, and the configuration guide's WebAction form.
RSpec.describe "Sidekiq::Web extensions", :web do
  # Helpers an extension mixes in.
  module WebSpecExtHelpers
    def shout(text)
      "#{text.upcase}!"
    end
  end

  # 7.3 style, with its own locale, view and stylesheet.
  module WebSpecModernExt
    def self.registered(app)
      app.helpers(WebSpecExtHelpers)
      app.get("/modern") do
        erb(File.read(File.join(WEB_SPEC_EXT_DIR, "views", "modern.erb")), locals: { who: params["who"] })
      end
      app.get("/modern/items/:id") { json(id: route_params[:id], hash: route_params.keys.sort_by(&:to_s)) }
      app.post("/modern/items/:id") do
        Sidekiq.redis { |conn| conn.call("SET", "modern:#{route_params(:id)}", "done") }
        redirect("#{root_path}modern")
      end
    end
  end

  # Old style: registered, then a tab set by hand.
  module WebSpecLegacyExt
    def self.registered(app)
      app.get("/legacy") { render(:erb, "<p class='legacy'><%= h t('LegacyTitle') %> <%= csrf_tag %></p>") }
    end
  end

  before(:all) do
    next if defined?(WEB_SPEC_EXT_DIR)

    dir = Dir.mktmpdir("ferrokiq-web-ext")
    Object.const_set(:WEB_SPEC_EXT_DIR, dir)
    FileUtils.mkdir_p(%W[#{dir}/locales #{dir}/views #{dir}/assets/modern/css])
    File.write("#{dir}/locales/en.yml", "en:\n  ModernTab: \"Modern things\"\n  LegacyTitle: \"Old ways\"\n")
    File.write("#{dir}/views/modern.erb",
               "<%= style_tag 'modern/css/modern.css' %><h1><%= h shout(t('ModernTab')) %></h1>" \
               "<p><%= h who %></p><form method='post' action='<%= root_path %>modern/items/7'>" \
               "<%= csrf_tag %></form>")
    File.write("#{dir}/assets/modern/css/modern.css", ".modern { color: teal; }\n")
    Sidekiq::Web.register(WebSpecModernExt, name: "modern", tab: "ModernTab", index: "modern", root_dir: dir,
                                            asset_paths: ["css"], cache_for: 600)
    Sidekiq::Web.register(WebSpecLegacyExt)
    Sidekiq::Web.tabs["Legacy"] = "legacy"
    stats_app = ->(env) { [200, { "content-type" => "text/plain" }, ["custom #{env["PATH_INFO"]}"]] }
    Sidekiq::Web.register(Sidekiq::WebAction.new(:get, "/custom_stats", stats_app))
    Sidekiq::Web.tabs["Custom Stats"] = "custom_stats"
  end

  it "shows every extension tab in the nav, after the built-in ones" do
    get "/sidekiq/"
    body = last_response.body
    expect(body).to include('href="/sidekiq/modern" data-navbar="custom-tab">Modern things<',
                            'href="/sidekiq/legacy" data-navbar="custom-tab">Legacy<',
                            'href="/sidekiq/custom_stats" data-navbar="custom-tab">Custom Stats<')
    nav = body[%r{<nav class="fk-nav".*?</nav>}m]
    expect(nav.scan(%r{href="/sidekiq/([^"]*)"}).flatten)
      .to eq(["", "busy", "queues", "retries", "scheduled", "morgue", "metrics", "modern", "legacy", "custom_stats"])
    expect(Sidekiq::Web.default_tabs).to eq("Dashboard" => "", "Busy" => "busy", "Queues" => "queues",
                                            "Retries" => "retries", "Scheduled" => "scheduled", "Dead" => "morgue",
                                            "Metrics" => "metrics")
  end

  it "renders a keyword-registered page in the layout with its locale, helpers and nonce'd style" do
    get "/sidekiq/modern", "who" => "<i>me</i>"
    body = last_response.body
    nonce = last_response.headers["Content-Security-Policy"][/'nonce-([^']+)'/, 1]
    expect(body).to include("<h1>MODERN THINGS!</h1>", "<p>&lt;i&gt;me&lt;/i&gt;</p>",
                            %(href="/sidekiq/modern/css/modern.css" nonce="#{nonce}"), 'class="fk-summary"')
    expect(body).to include('href="/sidekiq/modern" aria-current="page"')
  end

  it "serves the extension's assets with its cache time" do
    get "/sidekiq/modern/css/modern.css"
    expect(last_response.status).to eq(200)
    expect(last_response.body).to include("teal")
    expect(last_response.headers["Cache-Control"]).to eq("private, max-age=600")
  end

  it "gives route params as a Hash and one at a time" do
    get "/sidekiq/modern/items/42"
    expect(JSON.parse(last_response.body)).to eq("id" => "42", "hash" => %w[id id])
  end

  it "protects extension POSTs with CSRF and read-only" do
    post "/sidekiq/modern/items/7"
    expect(last_response.status).to eq(403)
    post_form "/sidekiq/modern/items/7", {}, page: "/sidekiq/modern"
    expect(last_response.status).to eq(302)
    expect(redis("GET", "modern:7")).to eq("done")
    Sidekiq::Web.read_only = true
    redis("DEL", "modern:7")
    post_form "/sidekiq/modern/items/7", {}, page: "/sidekiq/modern"
    expect(last_response.status).to eq(403)
    expect(redis("GET", "modern:7")).to be_nil
  end

  it "renders an old-style extension's string template" do
    get "/sidekiq/legacy"
    expect(last_response.body).to include("<p class='legacy'>Old ways <input type=\"hidden\" " \
                                          "name=\"authenticity_token\"")
  end

  it "serves a WebAction-registered Rack app's response" do
    get "/sidekiq/custom_stats"
    expect(last_response.status).to eq(200)
    expect(last_response.body).to eq("custom /custom_stats")
    expect(last_response.headers["X-Content-Type-Options"]).to eq("nosniff")
  end

  it "keeps built-in routes ahead of extension routes" do
    Sidekiq::WebApplication.get("/queues") { "hijacked" }
    get "/sidekiq/queues"
    expect(last_response.body).not_to include("hijacked")
  end
end
