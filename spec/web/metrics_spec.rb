# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"
require "sidekiq/deploy"

# The Metrics pages over Sidekiq 7's metrics keys: seeded as Sidekiq 7 writes them, and as a
# real Ferrokiq server leaves them.
RSpec.describe "Sidekiq::Web metrics", :web do
  let(:now) { Time.now.utc }

  # Seeds one minute of Sidekiq 7 metrics for +klass+: the counts hash fields and, when
  # +buckets+ (index => count) are given, its histogram.
  def seed(klass, minutes_ago: 0, processed: 0, failed: 0, millis: nil, buckets: {})
    time = now - (minutes_ago * 60)
    key = "j|#{time.strftime("%Y%m%d")}|#{time.hour}:#{time.min}"
    redis("HINCRBY", key, "#{klass}|p", processed)
    redis("HINCRBY", key, "#{klass}|f", failed) if failed.positive?
    redis("HINCRBY", key, "#{klass}|ms", millis) if millis
    hist = "#{klass}-#{time.strftime("%d-%H")}:#{time.min}"
    buckets.each { |index, count| redis("BITFIELD", hist, "OVERFLOW", "SAT", "INCRBY", "u16", "##{index}", count) }
  end

  # The table rows of /metrics as [class, succeeded, failed, total s, average s].
  def rows(body)
    body.scan(%r{<tr>\s*<td>.*?<code>(.*?)</code></a>\s*</td>\s*((?:<td class="fk-num">.*?</td>\s*){4})</tr>}m)
        .map { |name, cells| [CGI.unescapeHTML(name), *cells.scan(%r{<td class="fk-num">(.*?)</td>}).flatten] }
  end

  def chart(body, index = 0)
    JSON.parse(CGI.unescapeHTML(body.scan(/data-chart="([^"]*)"/).flatten.fetch(index)))
  end

  it "lists classes busiest first with succeeded, failed, total and average seconds, under a Metrics tab" do
    seed("Quick", processed: 4, failed: 1, millis: 1500)
    seed("Quick", minutes_ago: 5, processed: 2, millis: 500)
    seed("Slow", minutes_ago: 30, processed: 2, millis: 9000)
    get "/sidekiq/metrics"
    expect(last_response.status).to eq(200)
    expect(last_response.body).to include(%(href="/sidekiq/metrics" aria-current="page">Metrics</a>))
    expect(rows(last_response.body)).to eq([%w[Slow 2 0 9.00 4.50], %w[Quick 5 1 2.00 0.40]])
    data = chart(last_response.body)
    expect(data).to include("kind" => "lines")
    expect(data["labels"].size).to eq(60)
    expect(data["labels"].last).to eq(now.strftime("%H:%M"))
    expect(data["series"].map { |s| [s["name"], s["values"].sum.round(3), s["shown"]] })
      .to eq([["Slow", 9.0, true], ["Quick", 2.0, true]])
  end

  it "filters by a literal, case-insensitive part of the class name" do
    seed("App::MailerJob", processed: 1, millis: 1)
    seed("App::Other", processed: 1, millis: 1)
    get "/sidekiq/metrics", substr: "mailer"
    expect(rows(last_response.body).map(&:first)).to eq(["App::MailerJob"])
    expect(last_response.body).to include(%(value="mailer"))
    get "/sidekiq/metrics", substr: ".*"
    expect(rows(last_response.body)).to be_empty
    expect(last_response.body).to include("No job class with this name has run in this period.")
  end

  it "reads the chosen period and falls back to one hour for anything else" do
    seed("Old", minutes_ago: 100, processed: 3, millis: 30)
    get "/sidekiq/metrics", period: "2h"
    expect(rows(last_response.body).map(&:first)).to eq(["Old"])
    expect(chart(last_response.body)["labels"].size).to eq(120)
    expect(last_response.body).to include(%(<option value="2h" selected>))
    get "/sidekiq/metrics", period: "1h<script>alert(1)</script>"
    expect(last_response.status).to eq(200)
    expect(last_response.body).not_to include("alert(1)")
    expect(rows(last_response.body)).to be_empty
    expect(last_response.body).to include(%(<option value="1h" selected>))
  end

  it "shows a class's histogram, per-minute counts and deploy marks" do
    seed("Quick", processed: 5, failed: 1, millis: 400, buckets: { 0 => 3, 7 => 1 })
    seed("Quick", minutes_ago: 2, processed: 1, millis: 25, buckets: { 1 => 1 })
    Sidekiq::Deploy.new(Sidekiq.redis_pool).mark!(at: now - 120, label: "v2 <i>")
    get "/sidekiq/metrics/Quick", period: "4h"
    body = last_response.body
    expect(last_response.status).to eq(200)
    expect(body.scan(/data-bucket="([^"]+)">(\d+)</).reject { |_, count| count == "0" })
      .to eq([%w[20ms 3], %w[30ms 1], %w[335ms 1]])
    histogram = chart(body, 0)
    expect(histogram).to include("kind" => "bars", "values" => [3, 1, 0, 0, 0, 0, 0, 1] + Array.new(18, 0))
    heat = chart(body, 1)
    expect(heat["cells"].size).to eq(240)
    expect(heat["cells"].last.first(8)).to eq([3, 0, 0, 0, 0, 0, 0, 1])
    expect(heat["marks"]).to eq([{ "at" => (now - 120).strftime("%H:%M"), "label" => "v2 <i>" }])
    per_minute = chart(body, 2)
    expect(per_minute["series"].map { |s| s["values"].sum }).to eq([5, 1])
    expect(body).not_to include("v2 <i>")
  end

  it "says when a class has no metrics in the period" do
    get "/sidekiq/metrics/Nothing"
    expect(last_response.status).to eq(200)
    expect(last_response.body).to include("This class has not run in this period.")
    expect(last_response.body).not_to include("data-chart")
  end

  it "escapes hostile class names in the list, the links and the class page" do
    hostile = %(<script>alert(1)</script>"'><img src=x onerror=alert(2)>)
    seed(hostile, processed: 1, millis: 5, buckets: { 0 => 1 })
    get "/sidekiq/metrics"
    body = last_response.body
    expect(body).not_to include("<script>alert(1)", "<img src=x")
    expect(rows(body).map(&:first)).to eq([hostile])
    expect(body).to include(%(href="/sidekiq/metrics/#{ERB::Util.url_encode(hostile)}?period=1h"))
    expect(chart(body)["series"].first["name"]).to eq(hostile)
    # A path segment cannot hold "/" (the router splits on it), so the class page is shown
    # for a name without one.
    linkable = %(<img src=x onerror=alert(2)>"'&)
    seed(linkable, processed: 1, millis: 5, buckets: { 0 => 1 })
    get "/sidekiq/metrics/#{ERB::Util.url_encode(linkable)}"
    expect(last_response.status).to eq(200)
    expect(last_response.body).not_to include("<img src=x")
    expect(last_response.body).to include(CGI.escapeHTML(linkable))
    expect(last_response.body.scan(/data-bucket="20ms">(\d+)</).flatten).to eq(["1"])
  end

  it "loads metrics.js with the request's CSP nonce, and no inline style" do
    seed("Quick", processed: 1, millis: 1)
    %w[/sidekiq/metrics /sidekiq/metrics/Quick].each do |path|
      get path
      nonce = last_response.headers["Content-Security-Policy"][/'nonce-([^']+)'/, 1]
      expect(last_response.body).to include(%(<script src="/sidekiq/javascripts/metrics.js" nonce="#{nonce}"></script>))
      expect(last_response.body).not_to match(/\sstyle=/)
    end
    get "/sidekiq/javascripts/metrics.js"
    expect(last_response.status).to eq(200)
    expect(last_response.body).to include("data-chart")
  end

  context "with metrics a real server recorded" do
    # Each run counts itself: an empty queue only means the jobs were fetched, and a server
    # stopped then puts back those not started yet (a loaded machine once stopped it first).
    jobs = <<~RUBY
      class ReportJob
        include Sidekiq::Job
        def perform(fail)
          Sidekiq.redis { |conn| conn.incr("report_job:runs") }
          raise "failed on purpose" if fail
        end
      end
    RUBY

    it "shows what the jobs did" do
      eval(jobs, TOPLEVEL_BINDING) # rubocop:disable Security/Eval
      3.times { ReportJob.perform_async(false) }
      ReportJob.set(retry: false).perform_async(true)
      server = start_server(jobs:)
      eventually { Sidekiq.redis { |conn| conn.get("report_job:runs") }.to_i == 4 }
      expect(server.stop).to be_success

      get "/sidekiq/metrics"
      name, succeeded, failed = rows(last_response.body).first
      expect([name, succeeded, failed]).to eq(%w[ReportJob 3 1])
      get "/sidekiq/metrics/ReportJob"
      counts = last_response.body.scan(/data-bucket="[^"]+">(\d+)</).flatten.map(&:to_i)
      expect(counts.sum).to eq(3)
    end
  end
end
