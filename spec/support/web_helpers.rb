# frozen_string_literal: true

require "rack"
require "rack/test"
require "rack/session/cookie"
require "sidekiq/web"

# The Web UI mounted under /sidekiq behind a cookie session, as a config.ru would, plus fixtures.
module WebHelpers
  include Rack::Test::Methods

  PREFIX = "/sidekiq"
  SESSION_SECRET = "f" * 64

  # The UI under +prefix+ behind a cookie session: what rack-test and the browser suite serve.
  def self.mounted_ui(prefix: PREFIX, secret: SESSION_SECRET)
    web = Sidekiq::Web
    Rack::Builder.new do
      use Rack::Session::Cookie, secret:, same_site: true
      map(prefix) { run web }
    end
  end

  def app
    WebHelpers.mounted_ui
  end

  def token_from(body)
    body[/name="authenticity_token" value="([^"]+)"/, 1] or raise "no CSRF token in the page"
  end

  # A POST with a token scraped from +page+ (fetched first, in the same session).
  def post_form(path, params = {}, page: "#{PREFIX}/queues", headers: {})
    get page
    post path, params.merge("authenticity_token" => token_from(last_response.body)), headers
  end

  def push_raw(queue, job)
    payload = { "jid" => SecureRandom.hex(12), "queue" => queue, "args" => [], "enqueued_at" => Time.now.to_f,
                "created_at" => Time.now.to_f }.merge(job)
    json = Sidekiq.dump_json(payload)
    Sidekiq.redis do |conn|
      conn.call("SADD", "queues", queue)
      conn.call("LPUSH", "queue:#{queue}", json)
    end
    json
  end

  def add_process(identity, info = {}, busy: 0, quiet: "false", work: {})
    info = { "hostname" => "host", "pid" => 123, "tag" => "app", "labels" => [], "concurrency" => 5,
             "queues" => ["default"], "started_at" => Time.now.to_f - 60, "identity" => identity }.merge(info)
    Sidekiq.redis do |conn|
      conn.call("SADD", "processes", identity)
      conn.call("HSET", identity, "info", Sidekiq.dump_json(info), "busy", busy.to_s, "beat", Time.now.to_f.to_s,
                "quiet", quiet, "rss", "123456")
      work.each do |tid, (queue, job)|
        conn.call("HSET", "#{identity}:work", tid,
                  Sidekiq.dump_json("queue" => queue, "payload" => Sidekiq.dump_json(job), "run_at" => Time.now.to_i))
      end
    end
  end

  # Adds a job to a sorted set ("retry", "schedule", "dead") with +score+; returns its key in
  # URLs ("<score>-<jid>") and the stored JSON.
  def add_entry(set, score, job = {})
    payload = { "jid" => SecureRandom.hex(12), "class" => "Job", "queue" => "default", "args" => [],
                "created_at" => score - 100, "enqueued_at" => score - 90 }.merge(job)
    json = Sidekiq.dump_json(payload)
    redis("ZADD", set, score.to_s, json)
    ["#{score}-#{payload["jid"]}", json]
  end

  # A failed job's fields, the backtrace compressed as Sidekiq stores it.
  def failure(message: "boom", error_class: "RuntimeError", backtrace: ["app.rb:1:in `x'"], retry_count: 2)
    { "error_class" => error_class, "error_message" => message, "retry_count" => retry_count, "retry" => true,
      "failed_at" => Time.now.to_f - 50, "retried_at" => Time.now.to_f - 10,
      "error_backtrace" => [Zlib::Deflate.deflate(Sidekiq.dump_json(backtrace))].pack("m0") }
  end

  def redis(*command)
    Sidekiq.redis { |conn| conn.call(*command) }
  end
end

RSpec.configure do |config|
  config.include WebHelpers, :web
  config.after(:each, :web) { Sidekiq::Web.read_only = false }
end
