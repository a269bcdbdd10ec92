# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

RSpec.describe "Sidekiq::Web pages", :web do
  describe "dashboard and stats" do
    before do
      redis("SET", "stat:processed", "1234567")
      redis("SET", "stat:failed", "12")
      push_raw("default", "class" => "A")
      push_raw("mail", "class" => "B")
      push_raw("mail", "class" => "C")
      add_process("host:1:abc", busy: 2)
    end

    it "shows the summary and the Redis box" do
      get "/sidekiq/"
      body = last_response.body
      expect(body).to include('data-stat="processed">1,234,567<', 'data-stat="failed">12<', 'data-stat="busy">2<',
                              'data-stat="enqueued">3<', 'data-redis="redis_version">')
      expect(body).to match(/data-redis="used_memory_human">\d/)
    end

    it "leaves blanks for INFO fields Redis hides" do
      allow(Sidekiq.default_configuration).to receive(:redis_info).and_return("redis_version" => "7.0.0")
      get "/sidekiq/"
      expect(last_response.body).to include('data-redis="redis_version">7.0.0<', 'data-redis="uptime_in_days"><')
    end

    it "answers HEAD / with an empty body" do
      head "/sidekiq/"
      expect(last_response.status).to eq(200)
      expect(last_response.body).to eq("")
    end

    it "serves /stats with Sidekiq 7.3's keys" do
      get "/sidekiq/stats"
      expect(last_response.headers["Content-Type"]).to eq("application/json")
      expect(last_response.headers["Cache-Control"]).to eq("private, no-store")
      data = JSON.parse(last_response.body)
      expect(data.keys).to eq(%w[sidekiq redis server_utc_time])
      expect(data["sidekiq"]).to include("processed" => 1_234_567, "failed" => 12, "busy" => 2, "processes" => 1,
                                         "enqueued" => 3, "scheduled" => 0, "retries" => 0, "dead" => 0)
      expect(data["sidekiq"]).to have_key("default_latency")
      expect(data["redis"].keys).to eq(%w[redis_version uptime_in_days connected_clients used_memory_human
                                          used_memory_peak_human])
      expect(data["server_utc_time"]).to match(/\A\d\d:\d\d:\d\d UTC\z/)
    end

    it "serves /stats/queues largest first and redirects the old path" do
      get "/sidekiq/stats/queues"
      expect(last_response.body).to eq('{"mail":2,"default":1}')
      get "/sidekiq/dashboard/stats"
      expect(last_response.status).to eq(302)
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/stats")
    end
  end

  describe "queues" do
    before do
      30.times { |i| push_raw("default", "class" => "Job#{i}", "args" => [i]) }
      push_raw("low", "class" => "Other")
    end

    it "lists queues with size, latency and delete buttons" do
      get "/sidekiq/queues"
      body = last_response.body
      expect(body).to include('href="/sidekiq/queues/default">default</a>', '<td class="fk-num">30</td>',
                              'action="/sidekiq/queues/low"')
    end

    it "pages a queue newest first, and oldest first with direction=asc" do
      get "/sidekiq/queues/default"
      body = last_response.body
      expect(body.scan(%r{<code>(Job\d+)</code>}).flatten.first(2)).to eq(%w[Job29 Job28])
      expect(body.scan(%r{<code>(Job\d+)</code>}).flatten.size).to eq(25)
      expect(body).to include("/sidekiq/queues/default?page=2")
      get "/sidekiq/queues/default", "page" => "2"
      expect(last_response.body.scan(%r{<code>(Job\d+)</code>}).flatten).to eq(%w[Job4 Job3 Job2 Job1 Job0])
      get "/sidekiq/queues/default", "direction" => "asc", "count" => "3"
      expect(last_response.body.scan(%r{<code>(Job\d+)</code>}).flatten).to eq(%w[Job0 Job1 Job2])
      expect(last_response.body).to include("?direction=asc&amp;count=3&amp;page=2")
    end

    it "refuses bad queue names and page params" do
      get "/sidekiq/queues/bad!name"
      expect(last_response.status).to eq(404)
      get "/sidekiq/queues/default", "page" => "-1", "count" => "abc"
      expect(last_response.status).to eq(200)
      expect(last_response.body.scan(%r{<code>(Job\d+)</code>}).flatten.size).to eq(25)
    end

    it "deletes one job, keeping the page's query" do
      victim = redis("LINDEX", "queue:default", 0)
      post_form "/sidekiq/queues/default/delete", { "key_val" => victim },
                headers: { "HTTP_REFERER" => "http://example.org/sidekiq/queues/default?page=2" }
      expect(last_response.status).to eq(302)
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/queues/default?page=2")
      expect(redis("LLEN", "queue:default")).to eq(29)
      expect(redis("LRANGE", "queue:default", 0, -1)).not_to include(victim)
    end

    it "deletes a queue" do
      post_form "/sidekiq/queues/low", { "delete" => "1" }
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/queues")
      expect(redis("EXISTS", "queue:low")).to eq(0)
      expect(redis("SMEMBERS", "queues")).to eq(["default"])
    end
  end

  describe "busy" do
    before do
      running = { "class" => "Running", "jid" => "j1", "args" => [1] }
      add_process("host10:1:a", { "hostname" => "host10", "pid" => 1 }, busy: 1, work: { "t1" => ["default", running] })
      add_process("host2:2:b", { "hostname" => "host2", "pid" => 2 })
      add_process("embedded:3:c", { "hostname" => "host3", "pid" => 3, "embedded" => true })
    end

    it "lists processes in natural hostname order and the running jobs" do
      get "/sidekiq/busy"
      body = last_response.body
      expect(body.index("host2:2")).to be < body.index("host3:3")
      expect(body.index("host3:3")).to be < body.index("host10:1")
      expect(body).to include("Running", "<code>j1</code>", "t1", "embedded")
      expect(body.scan('name="identity"').size).to eq(2)
    end

    it "quiets and stops one process" do
      post_form "/sidekiq/busy", { "identity" => "host2:2:b", "quiet" => "1" }, page: "/sidekiq/busy"
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/busy")
      expect(redis("LRANGE", "host2:2:b-signals", 0, -1)).to eq(["TSTP"])
      expect(redis("TTL", "host2:2:b-signals")).to be_between(1, 60)
      post_form "/sidekiq/busy", { "identity" => "host2:2:b", "stop" => "1" }, page: "/sidekiq/busy"
      expect(redis("LRANGE", "host2:2:b-signals", 0, -1)).to eq(%w[TERM TSTP])
      expect(redis("EXISTS", "host10:1:a-signals")).to eq(0)
    end

    it "quiets all processes but the embedded one" do
      post_form "/sidekiq/busy", { "quiet" => "1" }, page: "/sidekiq/busy"
      expect(redis("LRANGE", "host2:2:b-signals", 0, -1)).to eq(["TSTP"])
      expect(redis("LRANGE", "host10:1:a-signals", 0, -1)).to eq(["TSTP"])
      expect(redis("EXISTS", "embedded:3:c-signals")).to eq(0)
    end

    it "pages the running jobs" do
      add_process("many:9:z", { "hostname" => "many" },
                  work: (1..5).to_h { |i| ["t#{i}", ["default", { "class" => "W#{i}", "jid" => "jid#{i}" }]] })
      get "/sidekiq/busy", "count" => "2", "page" => "3"
      expect(last_response.body.scan(%r{<code>j(?:id\d|1)</code>}).size).to eq(2)
      expect(last_response.body).to include("Page 3 of 3")
    end
  end
end
