# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# The dashboard's charts: the realtime chart's markup and its poll interval control, the history
# chart's data (rendered into the page from the daily stat keys), its spans and Sidekiq's 401
# for a `days` out of range, and the page scripts it puts in the layout's head.
RSpec.describe "Sidekiq::Web dashboard charts", :web do
  let(:today) { Time.now.utc.to_date }

  def history_data(body)
    JSON.parse(body[%r{<script type="application/json" id="history-data" nonce="[^"]+">(.*?)</script>}m, 1])
  end

  def day(days_ago)
    (today - days_ago).iso8601
  end

  before do
    redis("SET", "stat:processed:#{day(0)}", "40")
    redis("SET", "stat:failed:#{day(0)}", "4")
    redis("SET", "stat:processed:#{day(6)}", "1234")
    redis("SET", "stat:processed:#{day(45)}", "999")
  end

  it "has the realtime chart fed from /stats, its interval slider and a status line" do
    get "/sidekiq/"
    body = last_response.body
    expect(body).to match(%r{<svg id="realtime-chart"[^>]* data-stats-url="/sidekiq/stats"})
    slider = body[/<input type="range" id="poll-interval"[^>]*>/]
    expect(slider).to include('min="2"', 'max="20"', 'step="1"', 'value="5"')
    expect(body).to include('<label for="poll-interval">Refresh every</label>',
                            '<p id="realtime-status" class="fk-sr" role="status"')
  end

  it "renders 30 days of history, oldest first, by default" do
    get "/sidekiq/"
    data = history_data(last_response.body)
    expect(data["days"]).to eq(30)
    expect(data["dates"].size).to eq(30)
    expect(data["dates"].first(2)).to eq([day(29), day(28)])
    expect(data["dates"].last).to eq(day(0))
    expect(data["processed"][-1]).to eq(40)
    expect(data["processed"][-7]).to eq(1234)
    expect(data["failed"][-1]).to eq(4)
    expect(data["processed"].sum).to eq(1274) # the day 45 days ago is outside the span
  end

  it "shows the history's numbers without scripts too" do
    get "/sidekiq/"
    body = last_response.body
    row = %(<th scope="row"><time datetime="#{day(6)}">#{day(6)}</time></th>)
    expect(body).to include("#{row}<td class=\"fk-num\">1,234</td><td class=\"fk-num\">0</td>")
    expect(body).to include("1,274 processed and 4 failed in these days.")
  end

  it "links every span and marks the one shown" do
    get "/sidekiq/", "days" => "7"
    body = last_response.body
    links = body.scan(/<a href="([^"]+)" data-days="(\d+)"( aria-current="page")?>/)
    expect(links.map(&:first)).to eq(%w[/sidekiq/?days=7 /sidekiq/?days=30 /sidekiq/?days=90 /sidekiq/?days=180])
    expect(links.select { |link| link[2] }.map { |link| link[1] }).to eq(["7"])
    data = history_data(body)
    expect(data["dates"]).to eq((0..6).map { |back| day(back) }.reverse)
    expect(data["processed"]).to eq([1234, 0, 0, 0, 0, 0, 40])
  end

  it "accepts every day count from 1 to 180" do
    %w[1 90 180].each do |days|
      get "/sidekiq/", "days" => days
      expect(last_response.status).to eq(200)
      expect(history_data(last_response.body)["dates"].size).to eq(days.to_i)
    end
    get "/sidekiq/", "days" => "46"
    expect(history_data(last_response.body)["processed"].first).to eq(999)
  end

  it "answers 401 for a day count out of range, as Sidekiq does" do
    ["0", "181", "-3", "5000", "abc", ""].each do |days|
      get "/sidekiq/", "days" => days
      expect(last_response.status).to eq(401), "days=#{days.inspect} gave #{last_response.status}"
    end
  end

  it "puts its chart scripts in the head with the request's nonce, and only on the dashboard" do
    get "/sidekiq/"
    nonce = last_response.headers["Content-Security-Policy"][/'nonce-([^']+)'/, 1]
    head, body = last_response.body.split("</head>", 2)
    %w[charts dashboard].each do |name|
      expect(head).to include(%(<script src="/sidekiq/javascripts/#{name}.js" nonce="#{nonce}"></script>))
      expect(body).not_to include("javascripts/#{name}.js")
    end
    expect(body).to include(%(<script type="application/json" id="history-data" nonce="#{nonce}">))
    get "/sidekiq/queues"
    expect(last_response.body).not_to include("javascripts/charts.js")
  end

  it "serves the chart scripts" do
    %w[charts dashboard ferrokiq].each do |name|
      get "/sidekiq/javascripts/#{name}.js"
      expect(last_response.status).to eq(200)
    end
  end
end
