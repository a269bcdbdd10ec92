# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

RSpec.describe "Sidekiq::Web, the Rack app", :web do
  it "serves the dashboard with links and assets under the mount point" do
    get "/sidekiq/"
    expect(last_response.status).to eq(200)
    expect(last_response.headers["Content-Type"]).to eq("text/html")
    body = last_response.body
    expect(body).to include('href="/sidekiq/stylesheets/ferrokiq.css"', 'src="/sidekiq/javascripts/ferrokiq.js"',
                            'href="/sidekiq/busy"', 'href="/sidekiq/queues"', 'href="/sidekiq/retries"',
                            'href="/sidekiq/scheduled"', 'href="/sidekiq/morgue"')
    expect(body.scan(%r{href="/(?!sidekiq)[^"]*"})).to eq([])
  end

  it "sets the security headers on pages and caches assets" do
    get "/sidekiq/queues"
    headers = last_response.headers
    expect(headers["Cache-Control"]).to eq("private, no-store")
    expect(headers["X-Content-Type-Options"]).to eq("nosniff")
    expect(headers["Content-Language"]).to eq("en")
    csp = headers["Content-Security-Policy"]
    nonce = csp[/'nonce-([^']+)'/, 1]
    expect(csp).to include("default-src 'self'", "script-src 'self' 'nonce-#{nonce}'", "object-src 'none'")
    expect(csp).not_to match(/https?:|\*|unsafe/)
    tags = last_response.body.scan(/<(?:script|style|link rel="stylesheet")[^>]*>/)
    expect(tags.size).to eq(2)
    expect(tags).to all(include(%(nonce="#{nonce}")))
    get "/sidekiq/queues"
    expect(last_response.headers["Content-Security-Policy"]).not_to include(nonce)

    get "/sidekiq/stylesheets/ferrokiq.css"
    expect(last_response.status).to eq(200)
    expect(last_response.headers["Cache-Control"]).to eq("private, max-age=86400")
    expect(last_response.headers["X-Content-Type-Options"]).to eq("nosniff")
    get "/sidekiq/javascripts/ferrokiq.js"
    expect(last_response.status).to eq(200)
  end

  it "answers unknown paths and verbs with 404 and X-Cascade" do
    push_raw("default", "class" => "Job")
    get "/sidekiq/queues"
    token = token_from(last_response.body)
    [[:get, "/sidekiq/nothing-here"], [:patch, "/sidekiq/"], [:options, "/sidekiq/"]].each do |verb, path|
      send(verb, path, "authenticity_token" => token)
      expect(last_response.status).to eq(404)
      expect(last_response.headers["X-Cascade"]).to eq("pass")
    end
  end

  it "works under run (no prefix) and as an instance" do
    web = Sidekiq::Web.new
    env = Rack::MockRequest.env_for("/queues", "rack.session" => {})
    status, _, body = web.call(env)
    expect(status).to eq(200)
    expect(body.join).to include('href="/busy"')
  end

  it "explains how to add a session when there is none" do
    status, headers, body = Sidekiq::Web.call(Rack::MockRequest.env_for("/"))
    expect(status).to eq(500)
    expect(headers["content-type"]).to eq("text/plain")
    expect(body.join).to include("needs a session", "Sidekiq::Web.use Rack::Session::Cookie")
  end

  it "runs middlewares added with use, in front of the pages" do
    Sidekiq::Web.use(Rack::Auth::Basic) { |user, pass| user == "admin" && pass == "secret" }
    get "/sidekiq/"
    expect(last_response.status).to eq(401)
    expect(last_response.headers["WWW-Authenticate"]).to include("Basic")
    basic_authorize "admin", "secret"
    get "/sidekiq/"
    expect(last_response.status).to eq(200)
  ensure
    Sidekiq::Web.middlewares.clear
    Sidekiq::Web.reset!
  end

  it "has the class-level settings API" do
    expect(Sidekiq::Web.settings).to be(Sidekiq::Web)
    Sidekiq::Web.configure { |config| config.app_url = "/home" }
    get "/sidekiq/"
    expect(last_response.body).to include('href="/home"')
  ensure
    Sidekiq::Web.app_url = nil
  end

  describe "CSRF" do
    before { push_raw("default", "class" => "Job") }

    it "refuses a POST without a token" do
      post "/sidekiq/queues/default", "delete" => "1"
      expect(last_response.status).to eq(403)
      expect(last_response.body).to eq("Forbidden")
      expect(redis("LLEN", "queue:default")).to eq(1)
    end

    it "refuses a POST with a wrong token" do
      get "/sidekiq/queues"
      post "/sidekiq/queues/default", "delete" => "1", "authenticity_token" => Base64.urlsafe_encode64("x" * 64)
      expect(last_response.status).to eq(403)
      post "/sidekiq/queues/default", "delete" => "1", "authenticity_token" => "not base64!"
      expect(last_response.status).to eq(403)
      expect(redis("LLEN", "queue:default")).to eq(1)
    end

    it "refuses a token from another session" do
      get "/sidekiq/queues"
      token = token_from(last_response.body)
      clear_cookies
      get "/sidekiq/queues"
      post "/sidekiq/queues/default", "delete" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(403)
    end

    it "accepts the token from the page, more than once" do
      get "/sidekiq/queues"
      token = token_from(last_response.body)
      expect(token.size).to eq(88)
      post "/sidekiq/queues/other", "delete" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(302)
      post "/sidekiq/queues/default", "delete" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(302)
      expect(redis("EXISTS", "queue:default")).to eq(0)
    end
  end

  describe "read-only mode" do
    before do
      push_raw("default", "class" => "Job")
      add_process("host:1:abc")
    end

    it "hides every form and refuses every mutation with Sidekiq::Web.read_only" do
      get "/sidekiq/queues"
      token = token_from(last_response.body)
      Sidekiq::Web.read_only = true
      %w[/sidekiq/queues /sidekiq/queues/default /sidekiq/busy /sidekiq/].each do |path|
        get path
        expect(last_response.body).not_to include("<form method=\"post\""), path
        expect(last_response.body).to include("Read-only")
      end
      post "/sidekiq/queues/default", "delete" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(403)
      post "/sidekiq/busy", "quiet" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(403)
      expect(redis("LLEN", "queue:default")).to eq(1)
      expect(redis("EXISTS", "host:1:abc-signals")).to eq(0)
    end

    it "is switched on per request by the env key" do
      get "/sidekiq/queues"
      token = token_from(last_response.body)
      get "/sidekiq/queues", {}, "sidekiq.web.read_only" => true
      expect(last_response.body).not_to include("<form method=\"post\"")
      post "/sidekiq/queues/default", { "delete" => "1", "authenticity_token" => token },
           "sidekiq.web.read_only" => true
      expect(last_response.status).to eq(403)
      expect(redis("LLEN", "queue:default")).to eq(1)
    end
  end
end
