# frozen_string_literal: true

require "net/http"
require "open3"
require "socket"
require "sqlite3"
require_relative "../support/rails_app"

# examples/rails_app/README.md's walkthrough as a newcomer runs it in a fresh clone on Debian 12:
# each command line of its ```sh block, in order, word for word, through bash, from the top of
# a stand-in for the repository (RailsApp.example). Every step names the README line it runs and
# fails if that is not the README's next line, so the README and this spec cannot drift apart.
#
# Two things differ from a user's terminal: REDIS_URL names a free port (the README says every
# command follows it) so no Redis of the machine's is touched, and the app listens on a free port
# (PORT, which `bin/rails server` reads) that replaces 3000 in the curl lines. Nothing else in the
# environment comes from this RSpec process (RailsApp#env drops its Ruby, Bundler and gem settings).
class ReadmeWalkthrough
  README = File.join(RailsApp::ROOT, "examples", "rails_app", "README.md")

  attr_reader :app, :port, :redis_url, :cwd

  # The command lines of the README's first ```sh block, without their comments.
  def self.commands
    block = File.read(README)[/^```sh\n(.*?)^```$/m, 1] or raise "#{README} has no ```sh block"
    block.lines.map { |line| line.sub(/\s+#\s.*/, "").strip }.reject(&:empty?)
  end

  def initialize
    @app = RailsApp.example("rails_app")
    @cwd = @app.root
    @port = RedisServer.free_port
    @redis_url = "redis://127.0.0.1:#{RedisServer.free_port}/0"
    @remaining = self.class.commands
    @spawned = []
  end

  def env
    @app.env("REDIS_URL" => redis_url, "PORT" => port.to_s, "RAILS_ENV" => nil)
  end

  # Runs +line+, which must be the README's next command; returns its stdout and raises with its
  # output if it fails.
  def run(line)
    take(line)
    return cd(line) if line.start_with?("cd ")

    out, err, status = Open3.capture3(env, "bash", "-c", localized(line), chdir: cwd, unsetenv_others: true)
    raise "`#{line}` failed (#{status}):\n#{err}\n#{out}" unless status.success?

    out
  end

  # Starts +line+ (the README's next command, a foreground one) in its own process group, as a
  # terminal does, with its output in +log+; returns its pid.
  def start(line, log:)
    take(line)
    pid = Process.spawn(env, "bash", "-c", "exec #{localized(line)}",
                        chdir: cwd, out: log, err: log, pgroup: true, unsetenv_others: true)
    @spawned << pid
    pid
  end

  # A README line this example leaves out (still checked to be the next one).
  def skip(line)
    take(line)
  end

  def finished?
    @remaining.empty?
  end

  def path(relative)
    File.join(cwd, relative)
  end

  def wait_for_port(timeout: 60)
    deadline = now + timeout
    begin
      Socket.tcp("localhost", port, connect_timeout: 1).close
    rescue SystemCallError
      raise "nothing listens on localhost:#{port} after #{timeout}s" if now > deadline

      sleep 0.1
      retry
    end
  end

  # Waits for a process #start started to exit; returns its status.
  def wait_for(pid, timeout:)
    deadline = now + timeout
    loop do
      _, status = Process.wait2(pid, Process::WNOHANG)
      return status if status
      raise "process #{pid} did not exit within #{timeout}s" if now > deadline

      sleep 0.05
    end
  end

  def http_get(path)
    Net::HTTP.get_response(URI("http://localhost:#{port}#{path}"))
  end

  # Stops whatever the walkthrough left running (the daemonized app and Redis by their pid files,
  # bin/sidekiq by its pid), then removes the copy.
  def cleanup
    @spawned.each { |pid| stop_pid(pid, group: true) }
    %w[tmp/pids/server.pid tmp/pids/redis.pid].map { |pidfile| File.join(@app.dir, pidfile) }.each do |pidfile|
      pid = File.exist?(pidfile) && Integer(File.read(pidfile), exception: false)
      stop_pid(pid) if pid
    end
    @app.destroy
  end

  # Running: not exited, and not a zombie either (an orphan waits for init to reap it).
  def alive?(pid)
    File.read("/proc/#{pid}/stat").split(") ").last[0] != "Z"
  rescue SystemCallError
    false
  end

  private

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def take(line)
    expected = @remaining.shift
    raise "the spec runs `#{line}` where the README's next command is `#{expected.inspect}`" unless line == expected
  end

  def cd(line)
    @cwd = File.expand_path(line.delete_prefix("cd "), cwd)
    raise "#{line}: no such directory" unless File.directory?(cwd)

    ""
  end

  def localized(line)
    line.gsub("localhost:3000", "localhost:#{port}")
  end

  # Stops a process this walkthrough started: a spawned one (its whole process group), or one
  # that a pid file names once it shows it is ours (this walkthrough's REDIS_URL in its environment,
  # or, for redis-server, which writes its title over its environment, its directory).
  def stop_pid(pid, group: false)
    return unless group || ours?(pid)

    signal("TERM", pid, group)
    deadline = now + 5
    sleep 0.05 while alive?(pid) && now < deadline
    signal("KILL", pid, group) if alive?(pid)
    Process.wait(pid) if group
  rescue Errno::ECHILD
    nil
  end

  def signal(name, pid, group)
    Process.kill(name, group ? -pid : pid)
  rescue Errno::ESRCH
    nil
  end

  def ours?(pid)
    File.binread("/proc/#{pid}/environ").split("\0").include?("REDIS_URL=#{redis_url}") ||
      File.readlink("/proc/#{pid}/cwd").start_with?(@app.dir)
  rescue SystemCallError
    false
  end
end

RSpec.describe "examples/rails_app README walkthrough" do
  let(:walk) { ReadmeWalkthrough.new }
  after { walk.cleanup }

  def rows(table)
    db = SQLite3::Database.new(walk.path("db/development.sqlite3"), readonly: true)
    db.results_as_hash = true
    db.busy_timeout = 5_000
    db.execute("SELECT * FROM #{table} ORDER BY id")
  ensure
    db&.close
  end

  it "runs as written: Redis started for the user, both jobs enqueued from the app's pages and run by bin/sidekiq" do
    walk.run("cd examples/rails_app")
    expect(walk.run("bundle check")).to include("The Gemfile's dependencies are satisfied")
    walk.run("bin/rails db:schema:load")
    expect(walk.run("bin/redis")).to include("Redis is running at #{walk.redis_url}")
    redis_pid = Integer(File.read(walk.path("tmp/pids/redis.pid")))

    walk.run("bin/rails server -d")
    walk.wait_for_port # the newcomer reads the boot lines meanwhile
    report = JSON.parse(walk.run("curl -d title=Q1 http://localhost:3000/reports"))
    audit = JSON.parse(walk.run("curl -d event=login http://localhost:3000/audits"))
    expect(report).to include("job_id" => a_string_matching(/\A\h{8}-/), "jid" => a_string_matching(/\A\h{24}\z/))
    expect(audit).to include("jid" => a_string_matching(/\A\h{24}\z/))

    log = walk.path("log/sidekiq-spec.log")
    sidekiq = walk.start("bin/sidekiq", log:)
    # What the newcomer watches for before pressing Ctrl-C: both jobs' "done" lines.
    eventually(timeout: 60) { File.read(log).scan(/ INFO: done$/).size >= 2 }
    Process.kill("INT", -sidekiq) # Ctrl-C
    expect(walk.wait_for(sidekiq, timeout: 30)).to be_success
    output = File.read(log)
    expect(output).to include("class=GenerateReportJob jid=#{report["jid"]}", "class=AuditJob jid=#{audit["jid"]}")
    expect(output).not_to match(/INFO: fail|BusyException|Bundler is using a binstub/)

    page = walk.run("curl http://localhost:3000/")
    expect(page).to include(%(#1 "Q1" job_id=#{report["job_id"]} jid=#{report["jid"]}),
                            %(#1 "login" jid=#{audit["jid"]}),
                            "Redis at #{walk.redis_url}: 2 processed, 0 failed, 0 enqueued, 0 to retry, 0 dead")
    expect(rows("reports").map { |row| [row["title"], row["job_id"]] }).to eq([["Q1", report["job_id"]]])
    expect(rows("audit_entries").map { |row| [row["event"], row["jid"]] }).to eq([["login", audit["jid"]]])

    walk.run('kill "$(cat tmp/pids/server.pid)"')
    expect(walk.run("bin/redis stop")).to include("stopped the Redis at #{walk.redis_url}")
    expect(walk).to be_finished
    eventually(timeout: 10) { !File.exist?(walk.path("tmp/pids/server.pid")) }
    expect(walk.alive?(redis_pid)).to be(false)
  end

  it "answers 503 saying Redis is not reachable at REDIS_URL and how to start it, when it is not" do
    walk.run("cd examples/rails_app")
    walk.run("bundle check")
    walk.run("bin/rails db:schema:load")
    walk.skip("bin/redis")
    walk.run("bin/rails server -d")
    walk.wait_for_port

    message = ["Redis is not reachable at #{walk.redis_url}", "Ferrokiq::CannotConnectError", "bin/redis"]
    expect(walk.run("curl -d title=Q1 http://localhost:3000/reports")).to include(*message)
    expect(walk.run("curl -d event=login http://localhost:3000/audits")).to include(*message)
    walk.skip("bin/sidekiq")
    page = walk.run("curl http://localhost:3000/")
    expect(page).to include(*message, "Reports written by GenerateReportJob (perform_later): 0")
    expect(page).not_to include("<html", "Internal Server Error")

    response = walk.http_get("/")
    expect([response.code, response.content_type]).to eq(["503", "text/plain"])
    walk.run('kill "$(cat tmp/pids/server.pid)"')
  end

  it "gives bin/sidekiq and `bundle exec sidekiq` Ferrokiq's executable, never Debian's /usr/bin/sidekiq" do
    walk.run("cd examples/rails_app")
    walk.run("bundle check")

    version = "Sidekiq #{Sidekiq::VERSION} (Ferrokiq #{Ferrokiq::VERSION})\n"
    out, err, status = Open3.capture3(walk.env, "bin/sidekiq", "-V", chdir: walk.cwd, unsetenv_others: true)
    expect([status.success?, out, err]).to eq([true, version, ""])

    # Bundler runs the first `sidekiq` on PATH, Debian's /usr/bin/sidekiq (Sidekiq 6.4.1), and hands
    # it Ferrokiq's executable, with a warning on stderr (README: "bin/sidekiq, not sidekiq"). (After
    # a root `bundle install` with Ferrokiq by path, a wrapper in /var/lib/gems/3.1.0/bin, which
    # `bundle exec` puts first on PATH, runs it without one.)
    out, _err, status = Open3.capture3(walk.env, "bundle exec sidekiq -V", chdir: walk.cwd, unsetenv_others: true)
    expect([status.success?, out]).to eq([true, version])
  end

  it "lets bin/sidekiq's five threads write to SQLite at once without BusyException or stalls" do
    walk.run("cd examples/rails_app")
    walk.run("bundle check")
    walk.run("bin/rails db:schema:load")
    walk.run("bin/redis")

    # Many of both jobs through the app's own pages (Rack::MockRequest), then one server run.
    walk.app.sh(RbConfig.ruby, "bin/rails", "runner", <<~RUBY, env: walk.env)
      require "rack/mock"
      app = Rack::MockRequest.new(Rails.application)
      25.times do |i|
        [app.post("/reports", params: { title: "r\#{i}" }, "HTTP_HOST" => "localhost"),
         app.post("/audits", params: { event: "a\#{i}" }, "HTTP_HOST" => "localhost")].each do |response|
          raise "\#{response.status} \#{response.body}" unless response.status == 202
        end
      end
    RUBY
    log = walk.path("log/sidekiq-spec.log")
    walk.skip("bin/rails server -d")
    walk.skip("curl -d title=Q1 http://localhost:3000/reports")
    walk.skip("curl -d event=login http://localhost:3000/audits")
    sidekiq = walk.start("bin/sidekiq", log:)
    # Only these two classes: the app's recurring job (config/sidekiq_scheduler.yml) runs too.
    finished = ->(outcome) { File.read(log).scan(/ class=(?:GenerateReportJob|AuditJob) .* INFO: #{outcome}$/).size }
    eventually(timeout: 90) { finished.call("(?:done|fail)") >= 50 }
    Process.kill("INT", -sidekiq)
    expect(walk.wait_for(sidekiq, timeout: 30)).to be_success

    output = File.read(log)
    expect(finished.call("done")).to eq(50)
    expect(output).not_to match(/INFO: fail|BusyException/)
    # A job waiting out SQLite's busy timeout took 5 s; the first ones load the app's code.
    expect(output.scan(/elapsed=([\d.]+)/).flatten.map(&:to_f).max).to be < 2
    expect([rows("reports").size, rows("audit_entries").size]).to eq([25, 25])
  end
end
