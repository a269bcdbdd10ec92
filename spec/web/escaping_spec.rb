# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

RSpec.describe "Sidekiq::Web escaping", :web do
  payloads = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", %("'><b>q</b>)]
  hostile = payloads.join(" ")

  # No payload appears unescaped; its escaped form does.
  def expect_escaped(body, payloads)
    payloads.each do |payload|
      expect(body).not_to include(payload)
      expect(body).to include(CGI.escapeHTML(payload)).or include(CGI.escapeHTML(payload.inspect[1..-2]))
    end
    expect(body).not_to match(/<(script|img|b)\b(?![^>]*nonce=)[^>]*>(?!")/i)
  end

  before do
    job = { "class" => hostile, "args" => [hostile, { "k" => hostile }], "tags" => [hostile], "jid" => hostile }
    push_raw("default", job)
    push_raw(hostile, job)
    add_process("evil:1:x", { "hostname" => hostile, "tag" => hostile, "labels" => [hostile],
                              "queues" => [hostile] },
                busy: 1, work: { hostile => [hostile, job] })
  end

  it "shows no payload on the dashboard" do
    get "/sidekiq/"
    payloads.each { |payload| expect(last_response.body).not_to include(payload) }
  end

  %w[/sidekiq/queues /sidekiq/queues/default /sidekiq/busy].each do |path|
    it "escapes job and process data on #{path}" do
      get path
      expect(last_response.status).to eq(200)
      expect_escaped(last_response.body, payloads)
    end
  end

  it "refuses the hostile queue name in a queue URL" do
    get "/sidekiq/queues/#{CGI.escape(hostile)}"
    expect(last_response.status).to eq(404)
    get "/sidekiq/queues/#{CGI.escape("<b>x")}"
    expect(last_response.status).to eq(404)
    expect(last_response.body).to eq("404")
  end

  it "escapes the names and values of JSON endpoints as JSON" do
    get "/sidekiq/stats/queues"
    expect(JSON.parse(last_response.body).keys).to include(hostile)
  end
end
