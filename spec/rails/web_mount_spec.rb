# frozen_string_literal: true

require "net/http"
require "securerandom"
require "zlib"
require_relative "../support/rails_app"

# A client with a cookie jar (the Rails session) and optional basic auth credentials.
class CookieJarClient
  def initialize(port)
    @port = port
    @cookies = {}
  end

  attr_accessor :credentials

  def get(path)
    request(Net::HTTP::Get.new(path))
  end

  def post(path, form)
    post = Net::HTTP::Post.new(path)
    post.set_form_data(form)
    request(post)
  end

  private

  def request(request)
    request.basic_auth(*credentials) if credentials
    request["Cookie"] = @cookies.map { |name, value| "#{name}=#{value}" }.join("; ") unless @cookies.empty?
    response = Net::HTTP.start("127.0.0.1", @port) { |http| http.request(request) }
    Array(response.get_fields("set-cookie")).each do |cookie|
      name, value = cookie.split(";", 2).first.split("=", 2)
      @cookies[name] = value
    end
    response
  end
end

# examples/rails_app's Web UI as a browser reaches it: the app booted by `bin/rails server`
# (WEBrick) on 127.0.0.1 and a free port, in a fresh copy of the example (RailsApp.example), spoken
# to over real HTTP. The UI is mounted at /sidekiq behind basic auth with the development
# defaults (README.md), inside the Rails routes, so it runs on the app's cookie session.
RSpec.describe "examples/rails_app's Web UI at /sidekiq" do
  before(:context) do
    @app = RailsApp.example("rails_app")
    @port = RedisServer.free_port
    @server = @app.server(command: [RbConfig.ruby, "bin/rails", "server", "-b", "127.0.0.1", "-p", @port.to_s]).start
    eventually(timeout: 90) do
      Socket.tcp("127.0.0.1", @port, connect_timeout: 1).close || true
    rescue SystemCallError
      raise "bin/rails server exited:\n#{@server.log}" unless @server.alive?

      false
    end
  end

  after(:context) do
    @server&.stop
    @server&.cleanup
    @app&.destroy
  end

  let(:client) { CookieJarClient.new(@port) }

  def token_in(page)
    page.body[/name="authenticity_token" value="([^"]+)"/, 1] or raise "no CSRF token in:\n#{page.body}"
  end

  it "asks for credentials, and only the right ones open the dashboard" do
    response = client.get("/sidekiq/")
    expect(response.code).to eq("401")
    expect(response["www-authenticate"]).to eq('Basic realm="Sidekiq"')

    client.credentials = %w[sidekiq wrong]
    expect(client.get("/sidekiq/").code).to eq("401")

    client.credentials = %w[sidekiq sidekiq]
    dashboard = client.get("/sidekiq/")
    expect(dashboard.code).to eq("200")
    expect(dashboard.content_type).to eq("text/html")
    expect(dashboard.body).to include('href="/sidekiq/retries"', 'href="/sidekiq/stylesheets/ferrokiq.css"',
                                      'src="/sidekiq/javascripts/ferrokiq.js"', 'href="/"',
                                      'href="/sidekiq/recurring-jobs"', 'href="/sidekiq/locks"')
    expect(dashboard["content-security-policy"]).to include("default-src 'self'")
  end

  it "retries a job from its page with the CSRF token, on the Rails session" do
    client.credentials = %w[sidekiq sidekiq]
    jid = SecureRandom.hex(12)
    backtrace = [Zlib::Deflate.deflate(JSON.generate(["app/jobs/report_job.rb:3:in `perform'"]))].pack("m0")
    job = { "class" => "GenerateReportJob", "queue" => "reports", "args" => ["Q1"], "jid" => jid, "retry" => true,
            "retry_count" => 1, "error_class" => "IOError", "error_message" => "disk full",
            "failed_at" => Time.now.to_f - 60, "created_at" => Time.now.to_f - 120, "error_backtrace" => backtrace }
    score = Time.now.to_f + 600
    Sidekiq.redis { |conn| conn.call("ZADD", "retry", score.to_s, JSON.generate(job)) }

    page = client.get("/sidekiq/retries/#{score}-#{jid}")
    expect(page.code).to eq("200")
    expect(page.body).to include("disk full", "report_job.rb:3")
    # The session cookie is the Rails app's, and it carries the UI's CSRF secret.
    expect(page["set-cookie"]).to start_with("_rails_app_session=")

    expect(client.post("/sidekiq/retries/#{score}-#{jid}", "retry" => "1").code).to eq("403") # no token
    response = client.post("/sidekiq/retries/#{score}-#{jid}", "retry" => "1", "authenticity_token" => token_in(page))
    expect(response.code).to eq("302")
    expect(response["location"]).to eq("http://127.0.0.1:#{@port}/sidekiq/retries")

    queued = Sidekiq.redis { |conn| [conn.call("ZCARD", "retry"), conn.call("LRANGE", "queue:reports", 0, -1)] }
    expect(queued.first).to eq(0)
    expect(queued.last.map { |json| JSON.parse(json) }).to contain_exactly(
      include("jid" => jid, "class" => "GenerateReportJob", "args" => ["Q1"], "retry_count" => 0)
    )
  end

  it "serves the UI's assets under /sidekiq/, without credentials (as Sidekiq's UI does)" do
    css = client.get("/sidekiq/stylesheets/ferrokiq.css")
    expect([css.code, css.content_type]).to eq(%w[200 text/css])
    expect(css.body).to eq(File.read(File.join(RailsApp::ROOT, "lib/sidekiq/web/assets/stylesheets/ferrokiq.css")))
    expect(css["cache-control"]).to eq("private, max-age=86400")
    js = client.get("/sidekiq/javascripts/ferrokiq.js")
    expect([js.code, js.content_type]).to eq(%w[200 application/javascript])
    # A missing asset falls through to the pages, behind the login.
    expect(client.get("/sidekiq/stylesheets/nothing.css").code).to eq("401")
    client.credentials = %w[sidekiq sidekiq]
    expect(client.get("/sidekiq/stylesheets/nothing.css").code).to eq("404")
  end
end
