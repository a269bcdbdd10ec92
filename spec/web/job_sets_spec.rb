# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

RSpec.describe "Sidekiq::Web retries, scheduled and dead pages", :web do
  let(:now) { Time.now.to_f.round(3) }

  def members(set)
    redis("ZRANGE", set, 0, -1).map { |json| JSON.parse(json) }
  end

  def jids(set)
    members(set).map { |job| job["jid"] }.sort
  end

  def queued(queue = "default")
    redis("LRANGE", "queue:#{queue}", 0, -1).map { |json| JSON.parse(json) }
  end

  def listed_classes(body)
    body.scan(%r{<td><code>(Job\d+)</code>}).flatten
  end

  describe "navigation" do
    it "has the Retries, Scheduled and Dead tabs after Queues and links the summary totals" do
      get "/sidekiq/"
      body = last_response.body
      nav = body[%r{<nav class="fk-nav".*?</nav>}m]
      # (Extension tabs, registered by other specs, may follow.)
      expect(nav.scan(%r{href="/sidekiq/([^"]*)"}).flatten.first(6)).to eq(["", "busy", "queues", "retries",
                                                                            "scheduled", "morgue"])
      expect(nav).to include(">Retries<", ">Scheduled<", ">Dead<")
      summary = body[%r{<section class="fk-summary".*?</section>}m]
      expect(summary).to include('<a class="fk-stat fk-stat-retries" href="/sidekiq/retries">',
                                 '<a class="fk-stat fk-stat-scheduled" href="/sidekiq/scheduled">',
                                 '<a class="fk-stat fk-stat-dead" href="/sidekiq/morgue">')
      get "/sidekiq/morgue"
      expect(last_response.body).to include('href="/sidekiq/morgue" aria-current="page"')
    end
  end

  describe "lists" do
    it "pages the retries soonest first, 25 a page, each row linking to its entry" do
      keys = 30.times.map { |i| add_entry("retry", now + 100 + i, { "class" => "Job#{i}" }.merge(failure)).first }
      get "/sidekiq/retries"
      body = last_response.body
      expect(last_response.status).to eq(200)
      expect(listed_classes(body)).to eq((0..24).map { |i| "Job#{i}" })
      expect(body).to include(%(href="/sidekiq/retries/#{CGI.escape(keys[0])}"), %(value="#{keys[0]}"))
      expect(body).to include("/sidekiq/retries?page=2", "Page 1 of 2")
      get "/sidekiq/retries", "page" => "2"
      expect(listed_classes(last_response.body)).to eq((25..29).map { |i| "Job#{i}" })
      get "/sidekiq/retries", "count" => "3", "page" => "2"
      expect(listed_classes(last_response.body)).to eq(%w[Job3 Job4 Job5])
      expect(last_response.body).to include("page=3&amp;count=3")
    end

    it "pages the scheduled set soonest first and the dead set newest first" do
      5.times { |i| add_entry("schedule", now + 1000 - i, "class" => "Job#{i}") }
      5.times { |i| add_entry("dead", now - 1000 + i, { "class" => "Job#{i}" }.merge(failure)) }
      get "/sidekiq/scheduled", "count" => "2"
      expect(listed_classes(last_response.body)).to eq(%w[Job4 Job3])
      get "/sidekiq/morgue", "count" => "2"
      expect(listed_classes(last_response.body)).to eq(%w[Job4 Job3])
      get "/sidekiq/morgue", "count" => "2", "page" => "3"
      expect(listed_classes(last_response.body)).to eq(%w[Job0])
    end

    it "shows the retry count, queue, tags, args and error on the retries list" do
      add_entry("retry", now + 5, { "class" => "Job1", "queue" => "mail", "args" => [1, "two"], "tags" => ["t1"] }
                                   .merge(failure(message: "it broke", retry_count: 7)))
      get "/sidekiq/retries"
      body = last_response.body
      expect(body).to include('<td class="fk-num">7</td>', 'href="/sidekiq/queues/mail">mail</a>',
                              '<span class="fk-tag">t1</span>', "1, &quot;two&quot;", "RuntimeError: it broke")
    end

    it "offers each set's bulk and all buttons" do
      add_entry("retry", now, failure)
      add_entry("schedule", now)
      add_entry("dead", now, failure)
      get "/sidekiq/retries"
      body = last_response.body
      expect(body.scan(%r{action="/sidekiq/retries/all/(\w+)"}).flatten.sort).to eq(%w[delete kill retry])
      expect(body.scan(/type="submit" name="(\w+)"/).flatten).to eq(%w[retry delete kill])
      get "/sidekiq/scheduled"
      body = last_response.body
      expect(body.scan(%r{action="/sidekiq/scheduled/all/(\w+)"}).flatten.sort).to eq(%w[add_to_queue delete])
      expect(body.scan(/type="submit" name="(\w+)"/).flatten).to eq(%w[add_to_queue delete])
      get "/sidekiq/morgue"
      body = last_response.body
      expect(body.scan(%r{action="/sidekiq/morgue/all/(\w+)"}).flatten.sort).to eq(%w[delete retry])
      expect(body.scan(/type="submit" name="(\w+)"/).flatten).to eq(%w[retry delete])
    end

    it "shows an empty set without buttons" do
      %w[retries scheduled morgue].each do |path|
        get "/sidekiq/#{path}"
        expect(last_response.status).to eq(200)
        expect(last_response.body).to include("Nothing here.")
        expect(last_response.body).not_to include("/all/")
      end
    end
  end

  describe "the filter" do
    before do
      add_entry("retry", now + 3, { "class" => "Mailer", "args" => [1], "jid" => "aaa111" }.merge(failure))
      add_entry("retry", now + 1, { "class" => "Other", "args" => ["needle"], "jid" => "bbb222" }.merge(failure))
      add_entry("retry", now + 2, { "class" => "Other", "args" => [2], "jid" => "needle333" }.merge(failure))
      add_entry("retry", now + 4, { "class" => "Other", "args" => [3], "jid" => "ccc444" }.merge(failure))
    end

    it "matches class, args and jid, in the set's order, with the all buttons hidden" do
      get "/sidekiq/retries", "substr" => "Mailer"
      body = last_response.body
      expect(body.scan(/value="[\d.]+-(\w+)"/).flatten).to eq(%w[aaa111])
      expect(body).to include('name="substr" value="Mailer"', "1 jobs contain “Mailer”")
      expect(body).not_to include("/all/")
      expect(body).to include('type="submit" name="retry"')
      get "/sidekiq/retries", "substr" => "needle"
      expect(last_response.body.scan(/value="[\d.]+-(\w+)"/).flatten).to eq(%w[bbb222 needle333])
      get "/sidekiq/retries"
      expect(last_response.body.scan(/value="[\d.]+-(\w+)"/).flatten).to eq(%w[bbb222 needle333 aaa111 ccc444])
      expect(last_response.body).to include("/sidekiq/retries/all/delete")
      get "/sidekiq/retries", "substr" => "nowhere"
      expect(last_response.body).to include("No job contains this text.")
    end

    it "pages the matches and keeps the filter in the paging links" do
      get "/sidekiq/retries", "substr" => "Other", "count" => "2"
      body = last_response.body
      expect(body.scan(/value="[\d.]+-(\w+)"/).flatten).to eq(%w[bbb222 needle333])
      expect(body).to include("3 jobs contain", "count=2&amp;substr=Other&amp;page=2")
      get "/sidekiq/retries", "substr" => "Other", "count" => "2", "page" => "2"
      expect(last_response.body.scan(/value="[\d.]+-(\w+)"/).flatten).to eq(%w[ccc444])
      add_entry("dead", now - 5, { "class" => "Other", "jid" => "d1" }.merge(failure))
      add_entry("dead", now, { "class" => "Other", "jid" => "d2" }.merge(failure))
      get "/sidekiq/morgue", "substr" => "Other"
      expect(last_response.body.scan(/value="[\d.]+-(\w+)"/).flatten).to eq(%w[d2 d1])
    end

    it "keeps the filter after a bulk action from the filtered list" do
      get "/sidekiq/retries", "substr" => "needle"
      key = last_response.body[/value="([\d.]+-bbb222)"/, 1]
      token = token_from(last_response.body)
      post "/sidekiq/retries", { "key" => [key], "delete" => "1", "authenticity_token" => token },
           "HTTP_REFERER" => "http://example.org/sidekiq/retries?substr=needle"
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/retries?substr=needle")
      expect(jids("retry")).to eq(%w[aaa111 ccc444 needle333])
    end
  end

  describe "an entry's page" do
    it "shows every field, the error and the decompressed backtrace" do
      job = { "class" => "HardJob", "queue" => "mail", "args" => [1, { "a" => "b" }], "jid" => "abc123",
              "tags" => ["vip"], "bid" => "batch9", "custom_field" => { "x" => [1, 2] }, "retry_count" => 4 }
      key, = add_entry("retry", now + 60, job.merge(failure(message: "no luck", error_class: "IOError",
                                                            backtrace: ["a.rb:1:in `x'", "b.rb:2:in `y'"])))
      get "/sidekiq/retries/#{CGI.escape(key)}"
      expect(last_response.status).to eq(200)
      body = last_response.body
      expect(body).to include("<code>HardJob</code>", 'href="/sidekiq/queues/mail">mail</a>', "<code>abc123</code>",
                              "1, {&quot;a&quot;=&gt;&quot;b&quot;}", '<span class="fk-tag">vip</span>',
                              "<code>batch9</code>", "<code>IOError</code>", "no luck",
                              "a.rb:1:in `x&#39;\nb.rb:2:in `y&#39;", "<code>custom_field</code>",
                              "{&quot;x&quot;:[1,2]}", "<code>retried_at</code>", "Attempts so far")
      expect(body).not_to include("<code>error_backtrace</code>")
      expect(body).to include(%(action="/sidekiq/retries/#{CGI.escape(key)}"))
      expect(body.scan(/type="submit" name="(\w+)"/).flatten).to eq(%w[retry delete kill])
    end

    it "serves scheduled and dead entries, with a whole-second score" do
      key, = add_entry("schedule", 2_000_000_000.0, "class" => "Later", "jid" => "s1")
      expect(key).to eq("2000000000.0-s1")
      get "/sidekiq/scheduled/#{key}"
      expect(last_response.status).to eq(200)
      expect(last_response.body).to include("<code>Later</code>")
      expect(last_response.body).not_to include("fk-error-title")
      expect(last_response.body.scan(/type="submit" name="(\w+)"/).flatten).to eq(%w[add_to_queue delete])
      get "/sidekiq/scheduled/2000000000-s1"
      expect(last_response.status).to eq(200)
      key, = add_entry("dead", now, { "class" => "Gone" }.merge(failure(backtrace: nil)))
      redis("ZADD", "dead", now.to_s, Sidekiq.dump_json("jid" => "nb", "class" => "NoTrace", "error_class" => "E"))
      get "/sidekiq/morgue/#{CGI.escape(key)}"
      expect(last_response.body.scan(/type="submit" name="(\w+)"/).flatten).to eq(%w[retry delete])
      get "/sidekiq/morgue/#{now}-nb"
      expect(last_response.body).to include("No backtrace was kept")
    end

    it "adds the custom job info rows" do
      row = Object.new
      def row.add_pair(job)
        yield "Owner", "<em>#{CGI.escapeHTML(job["class"])}</em>"
      end
      Sidekiq::Web.custom_job_info_rows << row
      key, = add_entry("retry", now, failure)
      get "/sidekiq/retries/#{CGI.escape(key)}"
      expect(last_response.body).to include('<th scope="row">Owner</th><td><em>Job</em></td>')
    ensure
      Sidekiq::Web.custom_job_info_rows.delete(row)
    end

    it "answers 404 for an unknown or malformed key" do
      key, = add_entry("retry", now, "jid" => "known")
      add_entry("schedule", now, "jid" => "sched")
      ["#{now}-unknown", "#{now + 1}-known", "known", "#{now}-", "abc-known", "-known", "1.2.3-known",
       "#{now}-known/extra"].each do |bad|
        get "/sidekiq/retries/#{CGI.escape(bad)}"
        expect(last_response.status).to eq(404), bad
      end
      get "/sidekiq/morgue/#{CGI.escape(key)}"
      expect(last_response.status).to eq(404)
      get "/sidekiq/scheduled/#{now}-known"
      expect(last_response.status).to eq(404)
      get "/sidekiq/retries"
      token = token_from(last_response.body)
      post "/sidekiq/retries/not-a-key", "delete" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(404)
      post "/sidekiq/retries/#{now}-unknown", "delete" => "1", "authenticity_token" => token
      expect(last_response.status).to eq(302)
      expect(jids("retry")).to eq(["known"])
    end
  end

  describe "actions on one entry" do
    before do
      @key, = add_entry("retry", now + 10, { "jid" => "r1", "queue" => "mail" }.merge(failure(retry_count: 3)))
      add_entry("retry", now + 10, { "jid" => "r2" }.merge(failure))
      add_entry("retry", now + 20, { "jid" => "r3" }.merge(failure))
    end

    def act(path, button)
      post_form path, { button => "1" }, page: "/sidekiq/retries"
      expect(last_response.status).to eq(302)
    end

    it "retries now: pushed to its queue with the retry not counted, gone from the set" do
      act("/sidekiq/retries/#{CGI.escape(@key)}", "retry")
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/retries")
      expect(jids("retry")).to eq(%w[r2 r3])
      expect(queued("mail").map { |job| [job["jid"], job["retry_count"]] }).to eq([["r1", 2]])
    end

    it "deletes" do
      act("/sidekiq/retries/#{CGI.escape(@key)}", "delete")
      expect(jids("retry")).to eq(%w[r2 r3])
      expect(redis("EXISTS", "queue:mail")).to eq(0)
      expect(redis("ZCARD", "dead")).to eq(0)
    end

    it "kills: moved to the dead set" do
      act("/sidekiq/retries/#{CGI.escape(@key)}", "kill")
      expect(jids("retry")).to eq(%w[r2 r3])
      expect(jids("dead")).to eq(%w[r1])
    end

    it "adds a scheduled job to its queue, or deletes it" do
      key1, = add_entry("schedule", now + 50, "jid" => "s1", "queue" => "low")
      key2, = add_entry("schedule", now + 60, "jid" => "s2")
      add_entry("schedule", now + 70, "jid" => "s3")
      act("/sidekiq/scheduled/#{CGI.escape(key1)}", "add_to_queue")
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/scheduled")
      expect(queued("low").map { |job| job["jid"] }).to eq(%w[s1])
      act("/sidekiq/scheduled/#{CGI.escape(key2)}", "delete")
      expect(jids("schedule")).to eq(%w[s3])
      act("/sidekiq/scheduled/#{CGI.escape(key2)}", "retry")
      expect(jids("schedule")).to eq(%w[s3])
    end

    it "retries or deletes a dead job" do
      key1, = add_entry("dead", now - 5, { "jid" => "d1" }.merge(failure(retry_count: 25)))
      key2, = add_entry("dead", now - 4, { "jid" => "d2" }.merge(failure))
      add_entry("dead", now - 3, { "jid" => "d3" }.merge(failure))
      act("/sidekiq/morgue/#{CGI.escape(key1)}", "retry")
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/morgue")
      expect(queued.map { |job| [job["jid"], job["retry_count"]] }).to eq([["d1", 24]])
      act("/sidekiq/morgue/#{CGI.escape(key2)}", "delete")
      expect(jids("dead")).to eq(%w[d3])
      expect(jids("retry")).to eq(%w[r1 r2 r3])
    end
  end

  describe "actions on the checked entries" do
    before do
      @keys = (1..4).map { |i| add_entry("retry", now + i, { "jid" => "r#{i}" }.merge(failure)).first }
    end

    it "retries, kills and deletes the checked retries only, keeping the list's query" do
      referer = { "HTTP_REFERER" => "http://example.org/sidekiq/retries?page=2" }
      post_form "/sidekiq/retries", { "key" => @keys[0, 1], "retry" => "1" }, page: "/sidekiq/retries", headers: referer
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/retries?page=2")
      expect(queued.map { |job| job["jid"] }).to eq(%w[r1])
      post_form "/sidekiq/retries", { "key" => [@keys[1], "#{now}-missing", "junk"], "kill" => "1" },
                page: "/sidekiq/retries"
      expect(jids("dead")).to eq(%w[r2])
      post_form "/sidekiq/retries", { "key" => [@keys[2]], "delete" => "1" }, page: "/sidekiq/retries"
      expect(jids("retry")).to eq(%w[r4])
      expect(jids("dead")).to eq(%w[r2])
      expect(queued.size).to eq(1)
    end

    it "does nothing without keys or without an action" do
      post_form "/sidekiq/retries", { "delete" => "1" }, page: "/sidekiq/retries"
      expect(last_response.status).to eq(302)
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/retries")
      post_form "/sidekiq/retries", { "key" => @keys }, page: "/sidekiq/retries"
      post_form "/sidekiq/retries", { "key" => @keys, "add_to_queue" => "1" }, page: "/sidekiq/retries"
      expect(jids("retry")).to eq(%w[r1 r2 r3 r4])
      expect(queued).to eq([])
    end

    it "adds checked scheduled jobs to their queues or deletes them" do
      keys = (1..3).map { |i| add_entry("schedule", now + i, "jid" => "s#{i}").first }
      post_form "/sidekiq/scheduled", { "key" => keys[0, 2], "add_to_queue" => "1" }, page: "/sidekiq/scheduled"
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/scheduled")
      expect(queued.map { |job| job["jid"] }.sort).to eq(%w[s1 s2])
      post_form "/sidekiq/scheduled", { "key" => keys[2, 1], "delete" => "1" }, page: "/sidekiq/scheduled"
      expect(redis("ZCARD", "schedule")).to eq(0)
      expect(queued.size).to eq(2)
    end

    it "retries or deletes checked dead jobs" do
      keys = (1..3).map { |i| add_entry("dead", now - i, { "jid" => "d#{i}" }.merge(failure)).first }
      post_form "/sidekiq/morgue", { "key" => keys[0, 2], "retry" => "1" }, page: "/sidekiq/morgue"
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/morgue")
      expect(queued.map { |job| job["jid"] }.sort).to eq(%w[d1 d2])
      post_form "/sidekiq/morgue", { "key" => keys[2, 1], "delete" => "1" }, page: "/sidekiq/morgue"
      expect(redis("ZCARD", "dead")).to eq(0)
      expect(jids("retry")).to eq(%w[r1 r2 r3 r4])
    end
  end

  describe "actions on all" do
    before do
      (1..3).each { |i| add_entry("retry", now + i, { "jid" => "r#{i}" }.merge(failure(retry_count: 5))) }
      (1..2).each do |i|
        add_entry("schedule", now + i, "jid" => "s#{i}", "queue" => "low")
        add_entry("dead", now - i, { "jid" => "d#{i}" }.merge(failure))
      end
    end

    def all(path)
      post_form "/sidekiq/#{path}", {}, page: "/sidekiq/retries"
      expect(last_response.status).to eq(302)
    end

    it "retries all retries" do
      all("retries/all/retry")
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/retries")
      expect(redis("ZCARD", "retry")).to eq(0)
      expect(queued.map { |job| [job["jid"], job["retry_count"]] }.sort).to eq([["r1", 4], ["r2", 4], ["r3", 4]])
      expect(jids("dead")).to eq(%w[d1 d2])
    end

    it "deletes all retries" do
      all("retries/all/delete")
      expect(redis("EXISTS", "retry")).to eq(0)
      expect(queued).to eq([])
      expect(jids("dead")).to eq(%w[d1 d2])
    end

    it "kills all retries" do
      all("retries/all/kill")
      expect(redis("ZCARD", "retry")).to eq(0)
      expect(jids("dead")).to eq(%w[d1 d2 r1 r2 r3])
    end

    it "adds all scheduled jobs to their queues, or deletes them all" do
      all("scheduled/all/add_to_queue")
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/scheduled")
      expect(redis("ZCARD", "schedule")).to eq(0)
      expect(queued("low").map { |job| job["jid"] }.sort).to eq(%w[s1 s2])
      add_entry("schedule", now, "jid" => "s9")
      all("scheduled/all/delete")
      expect(redis("EXISTS", "schedule")).to eq(0)
      expect(queued("low").size).to eq(2)
    end

    it "retries all dead jobs, or deletes them all" do
      all("morgue/all/retry")
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/morgue")
      expect(redis("ZCARD", "dead")).to eq(0)
      expect(queued.map { |job| job["jid"] }.sort).to eq(%w[d1 d2])
      add_entry("dead", now, { "jid" => "d9" }.merge(failure))
      all("morgue/all/delete")
      expect(redis("EXISTS", "dead")).to eq(0)
      expect(jids("retry")).to eq(%w[r1 r2 r3])
    end

    it "has no all route the set does not offer" do
      get "/sidekiq/retries"
      token = token_from(last_response.body)
      post "/sidekiq/morgue/all/kill", "authenticity_token" => token
      expect(last_response.status).to eq(404)
      post "/sidekiq/scheduled/all/retry", "authenticity_token" => token
      expect(last_response.status).to eq(404)
      expect(jids("dead")).to eq(%w[d1 d2])
      expect(jids("schedule")).to eq(%w[s1 s2])
    end
  end

  describe "CSRF and read-only" do
    before do
      @retry_key, = add_entry("retry", now, { "jid" => "r1" }.merge(failure))
      @scheduled_key, = add_entry("schedule", now, "jid" => "s1")
      @dead_key, = add_entry("dead", now, { "jid" => "d1" }.merge(failure))
    end

    let(:posts) do
      [["/sidekiq/retries", { "key" => [@retry_key], "delete" => "1" }],
       ["/sidekiq/retries/#{CGI.escape(@retry_key)}", { "delete" => "1" }],
       ["/sidekiq/retries/all/delete", {}], ["/sidekiq/retries/all/retry", {}], ["/sidekiq/retries/all/kill", {}],
       ["/sidekiq/scheduled", { "key" => [@scheduled_key], "delete" => "1" }],
       ["/sidekiq/scheduled/#{CGI.escape(@scheduled_key)}", { "add_to_queue" => "1" }],
       ["/sidekiq/scheduled/all/delete", {}], ["/sidekiq/scheduled/all/add_to_queue", {}],
       ["/sidekiq/morgue", { "key" => [@dead_key], "retry" => "1" }],
       ["/sidekiq/morgue/#{CGI.escape(@dead_key)}", { "delete" => "1" }],
       ["/sidekiq/morgue/all/delete", {}], ["/sidekiq/morgue/all/retry", {}]]
    end

    def untouched
      expect([jids("retry"), jids("schedule"), jids("dead"), redis("LLEN", "queue:default")])
        .to eq([%w[r1], %w[s1], %w[d1], 0])
    end

    it "refuses every new POST without a token, or with a wrong one" do
      get "/sidekiq/retries"
      posts.each do |path, params|
        post path, params
        expect(last_response.status).to eq(403), path
        expect(last_response.body).to eq("Forbidden")
        post path, params.merge("authenticity_token" => Base64.urlsafe_encode64("y" * 64))
        expect(last_response.status).to eq(403), path
      end
      untouched
    end

    it "refuses every new POST in read-only mode and hides the forms" do
      get "/sidekiq/retries"
      token = token_from(last_response.body)
      Sidekiq::Web.read_only = true
      ["/sidekiq/retries", "/sidekiq/scheduled", "/sidekiq/morgue", "/sidekiq/retries/#{CGI.escape(@retry_key)}",
       "/sidekiq/scheduled/#{CGI.escape(@scheduled_key)}", "/sidekiq/morgue/#{CGI.escape(@dead_key)}"].each do |path|
        get path
        expect(last_response.status).to eq(200)
        expect(last_response.body).not_to include('<form method="post"', 'name="key[]"', "/all/"), path
      end
      posts.each do |path, params|
        post path, params.merge("authenticity_token" => token)
        expect(last_response.status).to eq(403), path
      end
      Sidekiq::Web.read_only = false
      posts.each do |path, params|
        post path, params.merge("authenticity_token" => token), "sidekiq.web.read_only" => true
        expect(last_response.status).to eq(403), path
      end
      untouched
    end
  end

  describe "hostile payloads" do
    payloads = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", %("'><b>q</b>)]
    hostile = payloads.join(" ")
    # A jid can hold anything but "/" in a URL segment; the other payloads go there whole.
    slashless = "#{payloads[1]} \"'><b>q"

    def expect_escaped(body, payloads)
      payloads.each do |payload|
        expect(body).not_to include(payload)
        expect(body).to include(CGI.escapeHTML(payload)).or include(CGI.escapeHTML(payload.inspect[1..-2]))
      end
      expect(body).not_to match(/<(script|img|b)\b(?![^>]*nonce=)[^>]*>(?!")/i)
    end

    let(:job) do
      { "class" => hostile, "queue" => hostile, "args" => [hostile, { hostile => hostile }], "tags" => [hostile],
        hostile => hostile }.merge(failure(message: hostile, error_class: hostile, backtrace: [hostile, hostile]))
    end

    before do
      @keys = { "retries" => add_entry("retry", now, job.merge("jid" => slashless)).first,
                "scheduled" => add_entry("schedule", now, job.merge("jid" => slashless)).first,
                "morgue" => add_entry("dead", now, job.merge("jid" => slashless)).first }
      @script_keys = { "retries" => add_entry("retry", now + 1, job.merge("jid" => hostile)).first,
                       "scheduled" => add_entry("schedule", now + 1, job.merge("jid" => hostile)).first,
                       "morgue" => add_entry("dead", now + 1, job.merge("jid" => hostile)).first }
    end

    %w[retries scheduled morgue].each do |path|
      it "escapes every field on /#{path} and its entry pages" do
        get "/sidekiq/#{path}"
        expect(last_response.status).to eq(200)
        expect_escaped(last_response.body, payloads)
        expect(last_response.body).to include(CGI.escapeHTML(hostile))
        get "/sidekiq/#{path}/#{CGI.escape(@keys[path])}"
        expect(last_response.status).to eq(200)
        body = last_response.body
        expect_escaped(body, payloads)
        expect(body).to include("<code>#{CGI.escapeHTML(slashless)}</code>")
        if path != "scheduled"
          expect(body).to include("<td>#{CGI.escapeHTML(hostile)}</td>", "#{CGI.escapeHTML(hostile)}\n")
        end
        get "/sidekiq/#{path}/#{CGI.escape(@script_keys[path])}"
        expect(last_response.status).to eq(200)
        expect_escaped(last_response.body, payloads)
        expect(last_response.body).to include("<code>#{CGI.escapeHTML(hostile)}</code>")
      end

      it "acts on an entry with a hostile jid on /#{path}" do
        button = path == "scheduled" ? "delete" : "retry"
        post_form "/sidekiq/#{path}/#{CGI.escape(@script_keys[path])}", { button => "1" }, page: "/sidekiq/#{path}"
        expect(last_response.status).to eq(302)
        set = { "retries" => "retry", "scheduled" => "schedule", "morgue" => "dead" }.fetch(path)
        expect(jids(set)).to eq([slashless])
      end
    end

    it "escapes the echoed filter" do
      get "/sidekiq/retries", "substr" => hostile
      expect(last_response.status).to eq(200)
      expect_escaped(last_response.body, payloads)
      expect(last_response.body).to include(%(value="#{CGI.escapeHTML(hostile)}"))
      get "/sidekiq/morgue", "substr" => "<b>nothing</b>"
      expect(last_response.body).not_to include("<b>nothing")
      expect(last_response.body).to include("&lt;b&gt;nothing&lt;/b&gt;")
    end
  end
end
