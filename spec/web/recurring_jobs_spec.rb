# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# The "Recurring jobs" tab (`require "sidekiq-scheduler/web"` / `"sidekiq/cron/web"`) over the
# periodic jobs of both APIs: what it lists, and what its buttons write where the server reads.
# Client middleware that marks what passed through Sidekiq::Client.
class RecurringSpecStamp
  def call(_class, job, _queue, _pool)
    job["stamped"] = true
    yield
  end
end

RSpec.describe "Sidekiq::Web recurring jobs", :web do # rubocop:disable Metrics/BlockLength
  # The tab is global state: it is there for these examples only (its routes stay, unreachable
  # from the nav), so other specs see the tabs they expect.
  before(:all) do
    require "sidekiq-scheduler/web"
    require "sidekiq/cron/web"
    Sidekiq::Web::Pages::RecurringJobs.install
  end

  after(:all) do
    Sidekiq::Web.tabs.delete(Sidekiq::Web::Pages::RecurringJobs::TAB)
    Sidekiq::Web.reset!
  end

  after { Sidekiq.instance_variable_set(:@schedule, nil) }

  let(:page_path) { "/sidekiq/recurring-jobs" }

  def row(name)
    last_response.body[%r{<tr data-name="#{Regexp.escape(CGI.escapeHTML(name))}">.*?</tr>}m] or raise "no row #{name}"
  end

  def queued(queue)
    redis("LRANGE", "queue:#{queue}", 0, -1).map { |json| JSON.parse(json) }
  end

  def enabled?(name)
    Ferrokiq::Periodic::Store.enabled?(name)
  end

  def utc_title(time)
    %(title="#{time.utc.strftime("%Y-%m-%d %H:%M:%S UTC")}")
  end

  it "is one tab whichever plugin's web file is required, and answers sidekiq-cron's paths" do
    load File.expand_path("../../lib/sidekiq-scheduler/web.rb", __dir__)
    load File.expand_path("../../lib/sidekiq/cron/web.rb", __dir__)
    get "/sidekiq/"
    nav = last_response.body[%r{<nav class="fk-nav".*?</nav>}m]
    expect(nav.scan(%r{href="/sidekiq/recurring-jobs"}).size).to eq(1)
    expect(nav).to include(">Recurring jobs<")
    get "/sidekiq/cron"
    expect(last_response.location).to eq("http://example.org/sidekiq/recurring-jobs")
    get "/sidekiq/cron/namespaces/default"
    expect(last_response.location).to eq("http://example.org/sidekiq/recurring-jobs")
    get "/sidekiq/cron/namespaces/default/jobs/nightly"
    expect(last_response.location).to eq("http://example.org/sidekiq/recurring-jobs")
  end

  # One entry of each rule and state, from both APIs.
  def seed_both_apis(at)
    Sidekiq.public_send(:schedule=, {
                          "report" => { "every" => "1h", "class" => "ReportJob", "queue" => "low", "args" => [1, "a"],
                                        "description" => "Hourly report" },
                          "once" => { "at" => at.utc.strftime("%Y-%m-%d %H:%M:%S +0000"), "class" => "OnceJob" },
                          "paused" => { "cron" => "0 0 1 1 *", "class" => "NewYearJob", "enabled" => false }
                        })
    Sidekiq::Cron::Job.create("name" => "nightly", "cron" => "0 0 1 1 *", "class" => "NightlyJob", "args" => ["x"])
  end

  it "lists both APIs' jobs with rule, class, queue, args, state, last and next run" do
    at = Time.at(Time.now.to_i + 7200)
    seed_both_apis(at)
    since = Time.now.to_i - 600
    redis("HSET", "ferrokiq:periodic:since", "report", since.to_s)
    last = Time.utc(2026, 1, 2, 3, 4, 5)
    redis("HSET", "sidekiq-scheduler:last_times", "report", last.strftime("%Y-%m-%d %H:%M:%S +0000"))

    get page_path
    expect(last_response.status).to eq(200)
    expect(last_response.body.scan(/<tr data-name="([^"]+)"/).flatten)
      .to eq(["cron_job:default:nightly", "once", "paused", "report"])
    report = row("report")
    expect(report).to include(">report<", "Hourly report", ">every</span> <code>1h</code>", "<code>ReportJob</code>",
                              'href="/sidekiq/queues/low"', "<code>1, &quot;a&quot;</code>",
                              'data-state="enabled">Enabled<', utc_title(last), utc_title(Time.at(since + 3600)))
    expect(row("once")).to include(utc_title(at), ">never<", 'href="/sidekiq/queues/default"')
    expect(row("paused")).to include('data-state="disabled">Disabled<', "<td data-next-run>—</td>",
                                     'data-action="enable"')
    new_year = Time.utc(Time.now.utc.year + 1, 1, 1)
    nightly = row("cron_job:default:nightly")
    expect(nightly).to include(">nightly <span class=\"fk-tag\">cron</span>", "<code>NightlyJob</code>",
                               "<code>&quot;x&quot;</code>", utc_title(new_year), 'data-action="disable"')
  end

  it "shows a rule the server cannot read instead of a next run" do
    redis("HSET", "schedules", "broken", '{"cron":"every tuesday-ish","class":"X"}')
    get page_path
    expect(row("broken")).to include("Cannot be read:", "every tuesday-ish")
  end

  it "enqueues now through Sidekiq::Client, once, for either API" do
    Sidekiq.default_configuration.client_middleware { |chain| chain.add(RecurringSpecStamp) }
    report = { "every" => "1h", "class" => "ReportJob", "queue" => "low", "args" => [{ "k" => 1 }], "retry" => 3,
               "include_metadata" => true }
    Sidekiq.public_send(:schedule=, { "report" => report })
    Sidekiq::Cron::Job.create("name" => "nightly", "cron" => "0 3 * * *", "class" => "NightlyJob", "args" => ["x"])

    post_form("#{page_path}/enqueue", { "name" => "report" }, page: page_path)
    expect(last_response.location).to eq("http://example.org/sidekiq/recurring-jobs")
    jobs = queued("low")
    expect(jobs.size).to eq(1)
    expect(jobs.first).to include("class" => "ReportJob", "queue" => "low", "retry" => 3, "stamped" => true)
    expect(jobs.first["args"].first).to eq("k" => 1)
    expect(jobs.first["args"].last["scheduled_at"]).to be_within(60).of(Time.now.to_f)
    expect(jobs.first).not_to include("every", "include_metadata")
    expect(redis("SISMEMBER", "queues", "low")).to eq(1)

    post_form("#{page_path}/enqueue", { "name" => "cron_job:default:nightly" }, page: page_path)
    expect(queued("default").map { |job| job.values_at("class", "args", "stamped") })
      .to eq([["NightlyJob", ["x"], true]])
    expect(Sidekiq::Cron::Job.find("nightly").last_enqueue_time).to be_within(60).of(Time.now)
    get page_path
    expect(row("cron_job:default:nightly")).to include(utc_title(Sidekiq::Cron::Job.find("nightly").last_enqueue_time))
  ensure
    Sidekiq.default_configuration.client_middleware { |chain| chain.remove(RecurringSpecStamp) }
  end

  it "disables and enables where the scheduler reads it, over the entry's own `enabled`" do
    Sidekiq.public_send(:schedule=, { "report" => { "every" => "1h", "class" => "ReportJob" },
                                      "paused" => { "every" => "1h", "class" => "X", "enabled" => false } })
    post_form("#{page_path}/disable", { "name" => "report" }, page: page_path)
    expect(redis("HGET", "sidekiq-scheduler:states", "report")).to eq('{"enabled":false}')
    expect(enabled?("report")).to be(false)
    get page_path
    expect(row("report")).to include('data-state="disabled"', 'data-action="enable"')

    post_form("#{page_path}/enable", { "name" => "paused" }, page: page_path)
    expect(redis("HGET", "sidekiq-scheduler:states", "paused")).to eq('{"enabled":true}')
    expect(enabled?("paused")).to be(true)
    # The YAML's `enabled: false` is overridden, as the plugin does once toggled.
    expect(Sidekiq.get_schedule("paused")["enabled"]).to be(false)

    post_form("#{page_path}/enable", { "name" => "unknown" }, page: page_path)
    expect(redis("HEXISTS", "sidekiq-scheduler:states", "unknown")).to eq(0)
  end

  it "keeps a sidekiq-cron job's status in step and answers both plugins' action paths" do
    Sidekiq.public_send(:schedule=, { "report" => { "every" => "1h", "class" => "ReportJob" } })
    Sidekiq::Cron::Job.create("name" => "nightly", "cron" => "0 3 * * *", "class" => "NightlyJob")
    post_form("#{page_path}/disable", { "name" => "cron_job:default:nightly" }, page: page_path)
    expect(Sidekiq::Cron::Job.find("nightly").status).to eq("disabled")
    expect(enabled?("cron_job:default:nightly")).to be(false)

    post_form("/sidekiq/cron/namespaces/default/jobs/nightly/enable", {}, page: page_path)
    expect(Sidekiq::Cron::Job.find("nightly").status).to eq("enabled")
    post_form("/sidekiq/cron/namespaces/default/jobs/nightly/enqueue", {}, page: page_path)
    expect(queued("default").map { |job| job["class"] }).to eq(["NightlyJob"])

    post_form("#{page_path}/report/toggle", {}, page: page_path)
    expect(enabled?("report")).to be(false)
    post_form("#{page_path}/report/enqueue", {}, page: page_path)
    expect(queued("default").map { |job| job["class"] }).to contain_exactly("NightlyJob", "ReportJob")
    post_form("#{page_path}/toggle-all", { "action" => "enable" }, page: page_path)
    expect([enabled?("report"), enabled?("cron_job:default:nightly")]).to eq([true, true])
    post_form("#{page_path}/toggle-all", { "action" => "disable" }, page: page_path)
    expect([enabled?("report"), enabled?("cron_job:default:nightly")]).to eq([false, false])
  end

  it "shows a sidekiq-cron job's namespace when it is not the default one, and acts on that job" do
    Sidekiq::Cron.configure { |config| config.available_namespaces = %w[billing] }
    Sidekiq::Cron::Job.create("name" => "nightly", "cron" => "0 3 * * *", "class" => "NightlyJob", "args" => ["d"])
    Sidekiq::Cron::Job.create("name" => "nightly", "cron" => "0 4 * * *", "class" => "NightlyJob", "args" => ["b"],
                              "namespace" => "billing")
    get page_path
    expect(row("cron_job:billing:nightly")).to include(">nightly <span class=\"fk-tag\">cron</span> " \
                                                       "<span class=\"fk-tag\" data-namespace>billing</span>")
    expect(row("cron_job:default:nightly")).not_to include("data-namespace")

    post_form("/sidekiq/cron/namespaces/billing/jobs/nightly/disable", {}, page: page_path)
    expect(Sidekiq::Cron::Job.find("nightly", "billing")).to be_disabled
    expect(Sidekiq::Cron::Job.find("nightly")).to be_enabled
    post_form("/sidekiq/cron/namespaces/billing/jobs/nightly/enqueue", {}, page: page_path)
    post_form("#{page_path}/enqueue", { "name" => "cron_job:billing:nightly" }, page: page_path)
    expect(queued("default").map { |job| job["args"] }).to eq([["b"], ["b"]])
  ensure
    Sidekiq::Cron.reset!
  end

  it "refuses a POST without the CSRF token and every POST in read-only mode" do
    Sidekiq.public_send(:schedule=, { "report" => { "every" => "1h", "class" => "ReportJob" } })
    post "#{page_path}/enqueue", "name" => "report"
    expect(last_response.status).to eq(403)
    post "#{page_path}/disable", "name" => "report"
    expect(last_response.status).to eq(403)

    get page_path
    token = token_from(last_response.body)
    Sidekiq::Web.read_only = true
    get page_path
    expect(last_response.body).to include(">report<")
    expect(last_response.body).not_to include("<form method=\"post\"", "data-action=")
    post "#{page_path}/enqueue", "name" => "report", "authenticity_token" => token
    expect(last_response.status).to eq(403)
    expect(redis("LLEN", "queue:default")).to eq(0)
    expect(enabled?("report")).to be(true)
  end

  it "escapes hostile names, descriptions and args, and acts on such a name" do
    name = %(<script>alert("n")</script>'q)
    Sidekiq.public_send(:schedule=, { name => { "every" => "1h", "class" => "Evil<b>Job", "args" => ["</code><i>\"x'"],
                                                "description" => "<img src=x onerror=alert(1)>" } })
    get page_path
    body = last_response.body
    expect(body).not_to include("<script>alert", "<img src=x", "<i>", "Evil<b>")
    expect(body).to include("&lt;script&gt;alert(&quot;n&quot;)&lt;/script&gt;&#39;q", "Evil&lt;b&gt;Job",
                            "&lt;img src=x onerror=alert(1)&gt;", "&lt;/code&gt;&lt;i&gt;")
    post_form("#{page_path}/disable", { "name" => name }, page: page_path)
    expect(enabled?(name)).to be(false)
    post_form("#{page_path}/enqueue", { "name" => name }, page: page_path)
    expect(queued("default").map { |job| job["class"] }).to eq(["Evil<b>Job"])
  end

  it "pages the entries by name" do
    Sidekiq.public_send(:schedule=, 30.times.to_h { |i| [format("job%02d", i), { "every" => "1h", "class" => "X" }] })
    get page_path
    names = ->(body) { body.scan(/<tr data-name="([^"]+)"/).flatten }
    expect(names.call(last_response.body)).to eq((0..24).map { |i| format("job%02d", i) })
    expect(last_response.body).to include("/sidekiq/recurring-jobs?page=2")
    get page_path, "page" => "2"
    expect(names.call(last_response.body)).to eq((25..29).map { |i| format("job%02d", i) })
  end
end
