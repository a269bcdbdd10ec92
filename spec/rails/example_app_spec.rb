# frozen_string_literal: true

require "sqlite3"
require_relative "../support/rails_app"

# examples/rails_app end to end, in a fresh copy of it (so the repository stays clean and its code
# can be edited): the app's controllers enqueue with perform_later and perform_async, `bundle exec
# sidekiq` (Bundler resolving Ferrokiq by path, offline, and handing Debian's /usr/bin/sidekiq
# Ferrokiq's executable) runs the jobs, the jobs write rows. example_app_readme_spec.rb follows the
# example's README (bin/redis, bin/rails server, bin/sidekiq) instead.
RSpec.describe "examples/rails_app end to end" do
  before(:context) do
    @app = RailsApp.example("rails_app")
    @app.sh(RbConfig.ruby, "bin/rails", "db:schema:load")
  end
  after(:context) { @app&.destroy }

  before { database { |db| %w[reports audit_entries].each { |table| db.execute("DELETE FROM #{table}") } } }

  def database(readonly: false)
    db = SQLite3::Database.new(File.join(@app.dir, "db", "development.sqlite3"), readonly:)
    db.busy_timeout = 5_000
    db.results_as_hash = true
    yield db
  ensure
    db&.close
  end

  # One database connection for five job threads (config/sidekiq.yml; the example's own pool is 5):
  # every job must hand its connection back (the Rails executor around each job) or the others time
  # out waiting.
  def start_example_server
    server = @app.server(command: %w[bundle exec sidekiq], env: { "RAILS_MAX_THREADS" => "1" }).start
    (@servers ||= []) << server
    server.wait_until_running(timeout: 60)
  end

  # POSTs to the app's controllers inside the app (bin/rails runner); returns the JSON replies.
  # +headers+: Rack env entries sent with every request ("HTTP_X_REQUEST_ID" => ...).
  def post(*paths, headers: {})
    script = <<~RUBY
      require "rack/mock"
      app = Rack::MockRequest.new(Rails.application)
      replies = #{paths.inspect}.map do |path|
        response = app.post(path, #{headers.merge("HTTP_HOST" => "localhost").inspect})
        raise "POST \#{path}: \#{response.status} \#{response.body[0, 500]}" unless response.status == 202

        JSON.parse(response.body)
      end
      puts JSON.generate(replies)
    RUBY
    JSON.parse(@app.sh(RbConfig.ruby, "bin/rails", "runner", script))
  end

  def rows(table)
    database(readonly: true) { |db| db.execute("SELECT * FROM #{table} ORDER BY id") }
  end

  def process_info(server)
    identity = Sidekiq.redis { |conn| conn.call("SMEMBERS", "processes") }.find { |id| id.include?(":#{server.pid}:") }
    JSON.parse(eventually { Sidekiq.redis { |conn| conn.call("HGET", identity, "info") } })
  end

  it "runs the jobs the controllers enqueue (perform_later and perform_async), and they write rows" do
    server = start_example_server
    info = process_info(server)
    reports = post("/reports?title=q1", "/reports?title=q2", "/reports?title=q3", "/reports?title=q4")
    audits = post("/audits?event=login", "/audits?event=logout", "/audits?event=export", "/audits?event=import")

    eventually(timeout: 60) { rows("reports").size == 4 && rows("audit_entries").size == 4 }
    server.stop

    expect(rows("reports").map { |row| [row["title"], row["job_id"], row["provider_job_id"]] })
      .to match_array(reports.zip(%w[q1 q2 q3 q4]).map { |reply, title| [title, reply["job_id"], reply["jid"]] })
    # Each job saw the id of the request that enqueued it (Current, carried by
    # Sidekiq::CurrentAttributes), one per request.
    expect(rows("audit_entries").map { |row| [row["event"], row["jid"], row["request_id"]] })
      .to match_array(audits.zip(%w[login logout export import])
                            .map { |reply, event| [event, reply["jid"], reply["request_id"]] })
    expect(audits.map { |reply| reply["request_id"] }.uniq.size).to eq(4)
    expect(Sidekiq.redis { |conn| [conn.call("ZCARD", "retry"), conn.call("ZCARD", "dead")] }).to eq([0, 0])

    # config/sidekiq.yml and the Rails app's directory name, as Sidekiq would use them.
    expect(info).to include("concurrency" => 5, "queues" => %w[reports default], "tag" => "rails_app")
    # Any Rails version (Debian's point releases change it), the app's directory and environment.
    expect(server.log).to match(%r{Rails \d+(\.\d+)+ app at \S+/rails_app is up \(environment: development\)})
    # Rails.logger lines from job code reach the server's log.
    expect(server.log).to include("generated report", "Performed GenerateReportJob")
  end

  # config/initializers/sidekiq.rb, config/sidekiq.yml and config/sidekiq_scheduler.yml as the
  # configuration guide writes them for sidekiq-unique-jobs, sidekiq-limit_fetch and
  # sidekiq-scheduler, none of which is in the Gemfile.
  it "honours the plugins' settings: a default lock, a queue limit, a recurring job, a memory limit" do
    pushes = 'puts JSON.generate([AuditJob.perform_async("once"), AuditJob.perform_async("once")])'
    first, second = JSON.parse(@app.sh(RbConfig.ruby, "bin/rails", "runner", pushes))
    expect([first, second]).to match([/\A\h{24}\z/, nil])

    server = start_example_server
    eventually(timeout: 60) { server.log.include?("pruned 0 audit entries older than 30 days") }
    eventually(timeout: 60) { rows("audit_entries").size == 1 }
    # Run, so released: the same push is taken again.
    again = eventually(timeout: 30) { JSON.parse(@app.sh(RbConfig.ruby, "bin/rails", "runner", pushes)).first }
    eventually(timeout: 60) { rows("audit_entries").size == 2 }
    server.stop

    expect(rows("audit_entries").map { |row| row["jid"] }).to eq([first, again])
    expect(Sidekiq.redis { |conn| conn.call("GET", "limit_fetch:limit:reports") }).to eq("2")
    expect(server.log).to include("Memory limit: 1024 MB RSS")
  end

  it "hands the request's Current.request_id to the job it enqueues, and only to that job" do
    server = start_example_server
    tagged = post("/audits?event=tagged", headers: { "HTTP_X_REQUEST_ID" => "req-from-client-1" }).first
    untagged = post("/audits?event=untagged").first
    eventually(timeout: 60) { rows("audit_entries").size == 2 }
    server.stop

    expect(tagged["request_id"]).to eq("req-from-client-1")
    expect(untagged["request_id"]).to match(/\A\h{8}-\h{4}-\h{4}-\h{4}-\h{12}\z/)
    expect(rows("audit_entries").to_h { |row| [row["event"], row["request_id"]] })
      .to eq("tagged" => "req-from-client-1", "untagged" => untagged["request_id"])
  end

  it "reloads changed job code in development before the next job" do
    server = start_example_server
    post("/audits?event=before")
    eventually(timeout: 60) { rows("audit_entries").any? { |row| row["event"] == "before" } }

    job_file = "app/sidekiq/audit_job.rb"
    source = @app.read(job_file)
    changed = source.sub("AuditEntry.create!(event:, jid:", 'AuditEntry.create!(event: "v2 #{event}", jid:')
    raise "#{job_file} changed; update this spec" if changed == source

    @app.write(job_file, changed)
    post("/audits?event=after")
    eventually(timeout: 60) { rows("audit_entries").any? { |row| row["event"].end_with?("after") } }
    server.stop

    expect(rows("audit_entries").map { |row| row["event"] }).to include("before", "v2 after")
  ensure
    @app.write(job_file, source) if source
  end
end
