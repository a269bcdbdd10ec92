# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# The "Locks" tab (`require "sidekiq_unique_jobs/web"`) over the unique-job locks
# (docs/design.md, §24): listing, filter, paging, one lock's page, and deletion that leaves the
# digest set and the lock keys in step.
RSpec.describe "Sidekiq::Web locks", :web do # rubocop:disable Metrics/BlockLength
  before(:all) do
    require "sidekiq_unique_jobs/web"
    Sidekiq::Web::Pages::Locks.install
  end

  after(:all) do
    Sidekiq::Web.tabs.delete(Sidekiq::Web::Pages::Locks::TAB)
    Sidekiq::Web.reset!
  end

  let(:now) { Time.now.to_f }

  # Takes a lock as the client does (the same script), scored +score+.
  def lock!(digest, jid: SecureRandom.hex(12), score: now, pttl: 0)
    Sidekiq.redis { |conn| Ferrokiq::UniqueJobs::Scripts.lock(conn, [[digest, jid, pttl, score, now, 1, ""]]) }
    jid
  end

  def listed(body = last_response.body)
    body.scan(/<tr data-digest="([^"]+)"/).flatten.map { |digest| CGI.unescapeHTML(digest) }
  end

  def lock_keys(digest)
    [digest, "#{digest}:LOCKED", "#{digest}:INFO"].select { |key| redis("EXISTS", key) == 1 }
  end

  it "adds the Locks tab once" do
    load File.expand_path("../../lib/sidekiq_unique_jobs/web.rb", __dir__)
    get "/sidekiq/"
    nav = last_response.body[%r{<nav class="fk-nav".*?</nav>}m]
    expect(nav.scan(%r{href="/sidekiq/locks" data-navbar="custom-tab">Locks<}).size).to eq(1)
  end

  it "lists locks newest first with holders, expiry and type, including one a real push took" do
    jid = Sidekiq::Client.push("class" => "LockSpecJob", "args" => [1], "lock" => "until_executed",
                               "lock_ttl" => 3600)
    pushed = JSON.parse(redis("LRANGE", "queue:default", 0, 0).first)["lock_digest"]
    old_jid = lock!("uniquejobs:old", score: now - 500)
    lock!("uniquejobs:run:RUN", score: now - 100)
    lock!("uniquejobs:info", score: now - 200)
    redis("SET", "uniquejobs:info:INFO", '{"type":"until_expired","worker":"InfoJob"}')

    get "/sidekiq/locks"
    expect(last_response.status).to eq(200)
    expect(listed).to eq([pushed, "uniquejobs:run:RUN", "uniquejobs:info", "uniquejobs:old"])
    body = last_response.body
    expect(body).to include(">Locks <span class=\"fk-count\">4</span>", "<code>#{jid}</code>",
                            "<code>#{old_jid}</code>", "while running (:RUN)", "until_expired <code>InfoJob</code>",
                            "not recorded")
    pushed_row = body[%r{<tr data-digest="#{pushed}">.*?</tr>}m]
    expires = pushed_row[/<td><time datetime="([^"]+)"/, 1]
    expect(Time.iso8601(expires)).to be_within(120).of(Time.now + 3600)
    expect(body[%r{<tr data-digest="uniquejobs:old">.*?</tr>}m]).to include("<td>never</td>")

    get "/sidekiq/locks/#{CGI.escape(pushed)}"
    expect(last_response.body).to include("Lock #{pushed}", "<code>#{jid}</code>", "Job may run from")
    get "/sidekiq/locks/uniquejobs:absent"
    expect(last_response.status).to eq(404)
  end

  it "filters in Redis and pages the matches, keeping the filter in the page links" do
    30.times { |i| lock!(format("uniquejobs:alpha%02d", i), score: now - i) }
    5.times { |i| lock!("uniquejobs:beta#{i}", score: now + i) }
    get "/sidekiq/locks", "filter" => "alpha"
    expect(listed).to eq((0..24).map { |i| format("uniquejobs:alpha%02d", i) })
    expect(last_response.body).to include("30 locks contain “alpha”", "filter=alpha")
    expect(last_response.body).not_to include("/locks/delete_all")
    get "/sidekiq/locks", "filter" => "alpha", "page" => "2"
    expect(listed).to eq((25..29).map { |i| format("uniquejobs:alpha%02d", i) })
    get "/sidekiq/locks", "filter" => "*beta[0-1]"
    expect(listed).to eq(%w[uniquejobs:beta1 uniquejobs:beta0])
    get "/sidekiq/locks", "count" => "3", "page" => "2"
    expect(listed).to eq(%w[uniquejobs:beta1 uniquejobs:beta0 uniquejobs:alpha00])
    get "/sidekiq/locks", "filter" => "nothing-like-it"
    expect(last_response.body).to include("No lock contains this text.")
  end

  it "deletes one lock's keys and digest, after which a twin job locks again" do
    item = { "class" => "LockSpecJob", "args" => [2], "lock" => "until_executed" }
    expect(Sidekiq::Client.push(item)).to be_a(String)
    expect(Sidekiq::Client.push(item)).to be_nil
    digest = JSON.parse(redis("LRANGE", "queue:default", 0, 0).first)["lock_digest"]
    lock!("uniquejobs:other")
    redis("SET", "#{digest}:INFO", "{}")

    post_form("/sidekiq/locks/delete", { "digest" => digest }, page: "/sidekiq/locks")
    expect(last_response.location).to eq("http://example.org/sidekiq/locks")
    expect(lock_keys(digest)).to be_empty
    expect(redis("ZSCORE", "uniquejobs:digests", digest)).to be_nil
    expect(redis("ZRANGE", "uniquejobs:digests", 0, -1)).to eq(["uniquejobs:other"])
    expect(Sidekiq::Client.push(item)).to be_a(String)
  end

  it "deletes every lock, across batches, leaving no lock key behind" do
    Sidekiq.redis do |conn|
      conn.pipelined do |pipe|
        1005.times do |i|
          digest = "uniquejobs:bulk#{i}"
          pipe.call("HSET", "#{digest}:LOCKED", "jid#{i}", now.to_s)
          pipe.call("SET", digest, "jid#{i}")
          pipe.call("ZADD", "uniquejobs:digests", now.to_s, digest)
        end
      end
    end
    get "/sidekiq/locks"
    expect(last_response.body).to include("Delete all 1,005 locks?")
    post_form("/sidekiq/locks/delete_all", {}, page: "/sidekiq/locks")
    expect(redis("ZCARD", "uniquejobs:digests")).to eq(0)
    expect(redis("KEYS", "uniquejobs:bulk*")).to be_empty
  end

  it "refuses a POST without the CSRF token and every POST in read-only mode" do
    lock!("uniquejobs:kept")
    post "/sidekiq/locks/delete", "digest" => "uniquejobs:kept"
    expect(last_response.status).to eq(403)
    post "/sidekiq/locks/delete_all"
    expect(last_response.status).to eq(403)

    get "/sidekiq/locks"
    token = token_from(last_response.body)
    Sidekiq::Web.read_only = true
    get "/sidekiq/locks"
    expect(listed).to eq(["uniquejobs:kept"])
    expect(last_response.body).not_to include("<form method=\"post\"")
    get "/sidekiq/locks/uniquejobs:kept"
    expect(last_response.body).not_to include("<form method=\"post\"")
    post "/sidekiq/locks/delete", "digest" => "uniquejobs:kept", "authenticity_token" => token
    expect(last_response.status).to eq(403)
    expect(lock_keys("uniquejobs:kept")).to eq(["uniquejobs:kept", "uniquejobs:kept:LOCKED"])
  end

  it "escapes a hostile digest and jid, and deletes such a lock" do
    digest = %(uniquejobs:<script>alert("d")</script>'/x)
    lock!(digest, jid: %(<b>"j'</b>))
    get "/sidekiq/locks"
    body = last_response.body
    expect(body).not_to include("<script>alert", "<b>\"j")
    expect(body).to include("uniquejobs:&lt;script&gt;alert(&quot;d&quot;)&lt;/script&gt;&#39;/x",
                            "&lt;b&gt;&quot;j&#39;&lt;/b&gt;")
    get "/sidekiq/locks/#{CGI.escape(digest)}"
    expect(last_response.status).to eq(200)
    expect(last_response.body).not_to include("<script>alert")
    post_form("/sidekiq/locks/delete", { "digest" => digest }, page: "/sidekiq/locks")
    expect(lock_keys(digest)).to be_empty
    expect(redis("ZCARD", "uniquejobs:digests")).to eq(0)
  end

  # sidekiq-unique-jobs' `lock_info`: the `:INFO` record the client writes with the lock.
  it "shows the lock info a push with lock_info wrote, escaped" do
    SidekiqUniqueJobs.configure { |config| config.lock_info = true }
    Sidekiq::Client.push("class" => "LockSpecJob", "args" => ["<i>x</i>"], "lock" => "until_executed",
                         "lock_limit" => 2)
    digest = JSON.parse(redis("LRANGE", "queue:default", 0, 0).first)["lock_digest"]
    get "/sidekiq/locks"
    row = last_response.body[%r{<tr data-digest="#{digest}">.*?</tr>}m]
    expect(row).to include("until_executed <code>LockSpecJob</code>")
    get "/sidekiq/locks/#{CGI.escape(digest)}"
    info = last_response.body[%r{<dl class="fk-facts" data-lock-info>.*?</dl>}m]
    expect(info).to include("<dt>worker</dt><dd><code>LockSpecJob</code>", "<dt>limit</dt><dd><code>2</code>",
                            "<dt>lock_args</dt><dd><code>[&quot;&lt;i&gt;x&lt;/i&gt;&quot;]</code>",
                            "<dt>queue</dt><dd><code>default</code>", "<dt>ttl</dt><dd><code>86400</code>")
    expect(info).not_to include("<i>")
    lock!("uniquejobs:bare")
    get "/sidekiq/locks/uniquejobs:bare"
    expect(last_response.body).not_to include("data-lock-info")
  ensure
    Ferrokiq::UniqueJobs.reset_settings!
  end

  # A plugin process's until_expired digests live in their own set, scored as the plugin does.
  describe "the plugin's expiring digests" do # rubocop:disable Metrics/BlockLength
    def expiring!(digest, jid: SecureRandom.hex(12))
      Sidekiq.redis do |conn|
        conn.call("HSET", "#{digest}:LOCKED", jid, now.to_s)
        conn.call("PEXPIRE", "#{digest}:LOCKED", 60_000)
        conn.call("SET", digest, jid, "PX", 60_000)
        conn.call("ZADD", "uniquejobs:expiring_digests", (now + 60_000).to_s, digest)
      end
      jid
    end

    it "lists, filters and pages them after the digests set, escaped" do
      lock!("uniquejobs:held")
      jid = expiring!("uniquejobs:exp1")
      expiring!(%(uniquejobs:<b>"exp2"</b>))
      get "/sidekiq/locks"
      expect(listed).to eq(["uniquejobs:held", "uniquejobs:exp1", %(uniquejobs:<b>"exp2"</b>)])
      body = last_response.body
      expect(body).to include(">Locks <span class=\"fk-count\">3</span>", "until expired (expiring digests)",
                              "<code>#{jid}</code>", "uniquejobs:&lt;b&gt;&quot;exp2&quot;&lt;/b&gt;")
      expect(body).not_to include("<b>\"exp2")
      get "/sidekiq/locks", "count" => "2", "page" => "2"
      expect(listed).to eq([%(uniquejobs:<b>"exp2"</b>)])
      get "/sidekiq/locks", "count" => "1", "page" => "2"
      expect(listed).to eq(["uniquejobs:exp1"])
      get "/sidekiq/locks", "filter" => "exp"
      expect(listed).to eq(["uniquejobs:exp1", %(uniquejobs:<b>"exp2"</b>)])
      expect(last_response.body).to include("2 locks contain “exp”")
      get "/sidekiq/locks", "filter" => "held"
      expect(listed).to eq(["uniquejobs:held"])
      get "/sidekiq/locks/uniquejobs:exp1"
      expect(last_response.status).to eq(200)
      expect(last_response.body).to include("until expired (expiring digests)", "<code>#{jid}</code>")
      expect(last_response.body).not_to include("Job may run from")
    end

    it "deletes one, and all of them with the other locks" do
      digest = %(uniquejobs:<script>"x"</script>)
      expiring!(digest)
      expiring!("uniquejobs:exp3")
      post_form("/sidekiq/locks/delete", { "digest" => digest }, page: "/sidekiq/locks")
      expect(lock_keys(digest)).to be_empty
      expect(redis("ZRANGE", "uniquejobs:expiring_digests", 0, -1)).to eq(["uniquejobs:exp3"])
      lock!("uniquejobs:held")
      post_form("/sidekiq/locks/delete_all", {}, page: "/sidekiq/locks")
      expect(redis("ZCARD", "uniquejobs:expiring_digests") + redis("ZCARD", "uniquejobs:digests")).to eq(0)
      expect(redis("KEYS", "uniquejobs:*")).to be_empty
    end
  end
end
