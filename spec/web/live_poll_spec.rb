# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# rubocop:disable Style/FormatStringToken -- %{name} is the locale files' placeholder syntax

# What live polling and relative times rely on in every page's markup: the #live-poll switch on
# list pages (not on the dashboard), the #page and #summary regions a poll replaces, the texts
# the scripts use, and <time> elements with their UTC time in the title.
RSpec.describe "Sidekiq::Web live poll and relative times", :web do
  let(:now) { Time.now.to_f }

  before do
    push_raw("default", "class" => "QueuedJob")
    add_entry("retry", now + 600, failure)
    add_entry("schedule", now + 7200)
    add_entry("dead", now - 90_000, failure)
  end

  %w[busy queues queues/default retries scheduled morgue].each do |path|
    it "offers live polling on /#{path}" do
      get "/sidekiq/#{path}"
      body = last_response.body
      expect(last_response.status).to eq(200)
      button = %r{<button type="button" id="live-poll" class="[^"]*" aria-pressed="false"[^>]*>.+?</button>}m
      expect(body).to match(button)
      expect(body).to include('<main id="page"', '<section class="fk-summary" id="summary"')
    end
  end

  it "has no live poll switch on the dashboard, which has its realtime chart" do
    get "/sidekiq/"
    expect(last_response.body).not_to include('id="live-poll"')
    expect(last_response.body).to include('<main id="page"', 'id="summary"')
  end

  it "gives the scripts their texts in the page's language" do
    get "/sidekiq/retries", {}, "HTTP_ACCEPT_LANGUAGE" => "fr"
    json = CGI.unescapeHTML(last_response.body[/<body data-texts="([^"]*)">/, 1])
    texts = JSON.parse(json)
    expect(texts).to include("TimePast" => "il y a %{amount}", "Minutes" => "%{count} min",
                             "Processed" => "Traités")
  end

  it "shows times relative to now with the UTC time in the title" do
    get "/sidekiq/retries"
    at = Time.at(now + 600).utc
    title = at.strftime("%Y-%m-%d %H:%M:%S UTC")
    expect(last_response.body).to include(%(<time datetime="#{at.iso8601}" title="#{title}">))
    expect(last_response.body).to match(%r{<time datetime="#{at.iso8601}"[^>]*>in (9|10) min</time>})
    get "/sidekiq/morgue"
    expect(last_response.body).to match(%r{<time datetime="[^"]+" title="[^"]+ UTC">1 d ago</time>})
  end

  it "writes relative times in the page's language" do
    get "/sidekiq/morgue", {}, "HTTP_ACCEPT_LANGUAGE" => "de"
    expect(last_response.body).to match(%r{<time datetime="[^"]+" title="[^"]+">vor 1 T\.</time>})
  end

  it "takes Times and epoch seconds alike in relative_time" do
    action = Sidekiq::WebAction.new({ "rack.session" => {} }, nil)
    at = Time.now - 7200
    expect(action.relative_time(at.to_f)).to eq(action.relative_time(at))
    expect(action.relative_time(at)).to end_with(">2 h ago</time>")
    expect(action.relative_time(nil)).to eq("")
  end
end
# rubocop:enable Style/FormatStringToken
