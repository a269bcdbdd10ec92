# frozen_string_literal: true

require "tmpdir"
require "fileutils"
require_relative "../spec_helper"
require_relative "../support/web_helpers"

# An extension page adding markup to the head both ways Sidekiq's helper allows.
module HeadTestExtension
  VIEWS = Dir.mktmpdir("ferrokiq-head-test")
  File.write(File.join(VIEWS, "head_test.erb"), <<~ERB)
    <% add_to_head do %><%= style_tag("head-test/one.css") %><meta name="head-test" content="<%= h params["v"] %>"><% end %>
    <p>before</p>
    <% add_to_head { script_tag("head-test/two.js") } %>
    <p>after</p>
  ERB

  def self.registered(app)
    app.get("/head-test") { erb(:head_test, views: VIEWS) }
  end
end

# A plugin's way of adding to every page's head.
module HeadTestOverride
  class << self
    attr_accessor :enabled
  end

  def display_custom_head
    HeadTestOverride.enabled ? "#{super}<meta name=\"override\">" : super
  end
end

# The layout's extension hook: Sidekiq 7.3's add_to_head, from an ERB block or a Ruby block,
# lands in <head> (and only there), in the order added; plugins that override
# display_custom_head keep working.
RSpec.describe "Sidekiq::Web layout head", :web do
  before(:all) do
    Sidekiq::Web.register(HeadTestExtension)
    Sidekiq::WebAction.prepend(HeadTestOverride)
  end

  after(:all) { FileUtils.rm_rf(HeadTestExtension::VIEWS) }

  it "puts what a page adds with add_to_head into <head>, escaped and nonce'd, not into the page" do
    get "/sidekiq/head-test", "v" => "<x>"
    nonce = last_response.headers["Content-Security-Policy"][/'nonce-([^']+)'/, 1]
    head, body = last_response.body.split("</head>", 2)
    added = [%(<link rel="stylesheet" href="/sidekiq/head-test/one.css" nonce="#{nonce}">),
             %(<meta name="head-test" content="&lt;x&gt;">),
             %(<script src="/sidekiq/head-test/two.js" nonce="#{nonce}"></script>)]
    expect(head).to include(added.join)
    expect(body).not_to include("head-test/one.css", "head-test/two.js", 'name="head-test"')
    expect(body).to match(%r{<p>before</p>\s*<p>after</p>})
  end

  it "keeps display_custom_head overridable, as plugins (sidekiq-throttled) prepend to it" do
    HeadTestOverride.enabled = true
    get "/sidekiq/queues"
    expect(last_response.body.split("</head>", 2).first).to include("<meta name=\"override\">")
  ensure
    HeadTestOverride.enabled = false
  end

  it "adds nothing to the head of pages that do not ask" do
    get "/sidekiq/queues"
    head = last_response.body.split("</head>", 2).first
    expect(head).not_to include("head-test", "charts.js")
  end
end
