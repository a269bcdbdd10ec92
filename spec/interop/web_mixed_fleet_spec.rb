# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# What the Sidekiq 6.4.1 peer runs in these examples.
module WebFleetPeer
  # The peer's jobs: FlakyJob fails its first attempt and records the second, DoomedJob always
  # fails and has no retries (straight to the dead set), both with their backtraces kept.
  JOBS = <<~RUBY
    class FlakyJob
      include Sidekiq::Worker
      sidekiq_options retry: 3, backtrace: true

      def perform(label)
        Sidekiq.redis do |conn|
          raise IOError, "first attempt at \#{label} failed" if conn.incr("web:attempts:\#{jid}") == 1

          conn.rpush("web:ran", Sidekiq.dump_json("jid" => jid, "label" => label, "by" => Sidekiq::VERSION))
        end
      end
    end

    class DoomedJob
      include Sidekiq::Worker
      sidekiq_options retry: 0, backtrace: true

      def perform(label)
        raise ArgumentError, "\#{label} cannot be done"
      end
    end
  RUBY
  # The line DoomedJob raises on, in the peer's jobs.rb (PRELUDE first).
  DOOMED_LINE = SidekiqPeer::PRELUDE.lines.size + JOBS.lines.index { |line| line.include?("cannot be done") } + 1
end

# Ferrokiq's Web UI over a fleet that still runs Debian's real Sidekiq 6.4.1 (in its own process,
# on the suite's redis-server), used as an operator would: the Busy page, the Quiet button, a
# failed job retried from its page, a dead job's backtrace. The UI runs in this process through
# rack-test (WebHelpers: mounted at /sidekiq behind a cookie session), its forms posted with the
# CSRF token of the page they are on.
RSpec.describe "The Web UI over Sidekiq 6.4.1 servers", :web, if: SidekiqPeer.available? do
  # The identity of the running server whose pid is not +other_pid+ (the peer), once it has
  # sent its first heartbeat.
  def peer_identity(other_pid: nil)
    eventually(timeout: 30) do
      redis("SMEMBERS", "processes").find do |identity|
        !identity.include?(":#{other_pid}:") && redis("HGET", identity, "info")
      end
    end
  end

  # Enqueues a peer job with a 6.4.1 client (which knows the class and so its options); returns
  # the jid.
  def push_to_peer(klass, label)
    script = "#{WebFleetPeer::JOBS}\nputs #{klass}.perform_async(#{label.inspect})\n"
    SidekiqPeer.run(script, redis_url: REDIS.url).strip
  end

  # The path of the first entry the list page +path+ links to ("/sidekiq/retries/<score>-<jid>").
  def first_entry_link(path)
    get path
    expect(last_response.status).to eq(200)
    last_response.body[%r{href="(#{Regexp.escape(path)}/\d[^"]*)"}, 1] or raise "no entry on #{path}"
  end

  it "shows a running 6.4.1 process beside a Ferrokiq one on the Busy page, and quiets it alone" do
    ferrokiq = start_server(jobs: "").wait_until_running
    ferrokiq_identity = redis("SMEMBERS", "processes").find { |identity| identity.include?(":#{ferrokiq.pid}:") }
    SidekiqPeer.with_server(WebFleetPeer::JOBS, redis_url: REDIS.url) do
      identity = peer_identity(other_pid: ferrokiq.pid)
      info = JSON.parse(redis("HGET", identity, "info"))
      get "/sidekiq/busy"
      expect(last_response.status).to eq(200)
      page = last_response.body
      expect(page).to include("#{info["hostname"]}:#{info["pid"]}", %(name="identity" value="#{identity}"),
                              ":#{ferrokiq.pid}</strong>", %(name="identity" value="#{ferrokiq_identity}"))
      expect(page).not_to include(%(fk-warn">Quiet<))

      post "/sidekiq/busy", "identity" => identity, "quiet" => "1", "authenticity_token" => token_from(page)
      expect(last_response.status).to eq(302)
      expect(last_response.headers["location"]).to eq("http://example.org/sidekiq/busy")

      # The 6.4.1 process reads the signal at a heartbeat, and says it is quiet at the next one.
      eventually(timeout: 30) { redis("HGET", identity, "quiet") == "true" }
      expect(redis("LLEN", "#{identity}-signals")).to eq(0)
      get "/sidekiq/busy"
      expect(last_response.body.scan(%(fk-warn">Quiet<)).size).to eq(1)
      # Only the process whose button was pressed got the signal.
      expect(redis("HGET", ferrokiq_identity, "quiet")).to eq("false")
      expect(redis("EXISTS", "#{ferrokiq_identity}-signals")).to eq(0)
    end
  end

  it "retries from its page a job a 6.4.1 server failed, and a 6.4.1 server runs it" do
    SidekiqPeer.with_server(WebFleetPeer::JOBS, redis_url: REDIS.url) do
      jid = push_to_peer("FlakyJob", "invoice 7")
      eventually(timeout: 30) { redis("ZCARD", "retry") == 1 }
      failed = JSON.parse(redis("ZRANGE", "retry", "0", "0").first)
      expect(failed).to include("jid" => jid, "retry_count" => 0, "error_class" => "IOError")

      entry = first_entry_link("/sidekiq/retries")
      expect(entry).to end_with("-#{jid}")
      get entry
      expect(last_response.body).to include("first attempt at invoice 7 failed")
      post entry, "retry" => "1", "authenticity_token" => token_from(last_response.body)
      expect(last_response.status).to eq(302)
      expect(redis("ZCARD", "retry")).to eq(0)

      ran = eventually(timeout: 30) { redis("LRANGE", "web:ran", "0", "-1").first }
      expect(JSON.parse(ran)).to eq("jid" => jid, "label" => "invoice 7", "by" => "6.4.1")
      expect(redis("GET", "web:attempts:#{jid}")).to eq("2")
      expect([redis("ZCARD", "retry"), redis("ZCARD", "dead")]).to eq([0, 0])
    end
  end

  it "shows the backtrace of a job a 6.4.1 server sent to the dead set on its page" do
    jid = push_to_peer("DoomedJob", "<b>report</b>")
    SidekiqPeer.with_server(WebFleetPeer::JOBS, redis_url: REDIS.url) do
      eventually(timeout: 30) { redis("ZCARD", "dead") == 1 }
    end

    entry = first_entry_link("/sidekiq/morgue")
    expect(entry).to end_with("-#{jid}")
    get entry
    expect(last_response.status).to eq(200)
    page = last_response.body
    expect(page).to include("ArgumentError", "&lt;b&gt;report&lt;/b&gt; cannot be done",
                            "jobs.rb:#{WebFleetPeer::DOOMED_LINE}:in `perform&#39;",
                            "sidekiq-6.4.1/lib/sidekiq/processor.rb:")
    expect(page).not_to include("<b>report</b>")
  end
end
