# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# Every response the UI produces, checked by Rack::Lint (Rack 2.2's, the one Debian ships) and by
# Rack 3's rule that header names are lower-case (Rack::Lint 3 rejects any other), so the UI runs
# under a Rack 3 server too. What the UI answers is recorded inside the session middleware,
# before that adds its own Set-Cookie (by WebHeaderRecorder).

# Remembers the headers of every response that passes through it.
class WebHeaderRecorder
  def initialize(app, seen)
    @app = app
    @seen = seen
  end

  def call(env)
    response = @app.call(env)
    headers = response[1]
    # A copy (the session middleware adds to the Hash afterwards), with what Rack 3 checks of
    # the Hash itself.
    @seen << ["#{env["REQUEST_METHOD"]} #{env["PATH_INFO"]}", response[0], headers.dup,
              headers.instance_of?(Hash) && !headers.frozen?]
    response
  end
end

RSpec.describe "Sidekiq::Web under Rack::Lint", :web do
  let(:seen) { [] }

  def app
    web = Sidekiq::Web
    recorded = seen
    Rack::Builder.new do
      use Rack::Session::Cookie, secret: WebHelpers::SESSION_SECRET, same_site: true
      map(WebHelpers::PREFIX) do
        use WebHeaderRecorder, recorded
        use Rack::Lint
        run web
      end
    end
  end

  after do
    Sidekiq::Web.middlewares.clear
    Sidekiq::Web.reset!
  end

  def statuses
    seen.to_h { |request, status, *| [request, status] }
  end

  it "answers pages, JSON, a POST, an asset, a 404 and a middleware's reply validly, with lower-case header names" do
    push_raw("default", "class" => "Job", "args" => [1])
    key, = add_entry("retry", Time.now.to_f + 60, failure)
    %w[/ /queues /queues/default /busy /retries /scheduled /morgue /stats /stats/queues /dashboard/stats
       /nothing-here].each { |path| get "/sidekiq#{path}" }
    get "/sidekiq/retries/#{key}"
    head "/sidekiq/"
    get "/sidekiq/stylesheets/ferrokiq.css"
    get "/sidekiq/javascripts/ferrokiq.js"
    post "/sidekiq/queues/default", "delete" => "1" # no token: 403
    post_form "/sidekiq/queues/default", { "delete" => "1" }
    expect(redis("EXISTS", "queue:default")).to eq(0)

    Sidekiq::Web.use(Rack::Auth::Basic) { |user, pass| user == "admin" && pass == "secret" }
    get "/sidekiq/busy"

    expect(statuses).to include("GET /" => 200, "GET /stats" => 200, "GET /retries/#{key}" => 200,
                                "HEAD /" => 200, "GET /stylesheets/ferrokiq.css" => 200,
                                "GET /dashboard/stats" => 302, "GET /nothing-here" => 404,
                                "POST /queues/default" => 302)
    expect(seen.map { |_, status, *| status }).to include(401, 403)
    seen.each do |request, _, headers, plain_hash|
      expect(plain_hash).to be(true), "#{request}: a frozen Hash or a subclass"
      expect(headers.keys.grep(/[A-Z]/)).to eq([]), "#{request}: #{headers.keys}"
      expect(headers.values).to all(be_a(String).and(satisfy { |value| !value.include?("\n") })), request
    end
  end
end
