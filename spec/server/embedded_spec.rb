# frozen_string_literal: true

require "fileutils"
require "net/http"
require "rbconfig"
require "tmpdir"
require_relative "../support/rails_app"
require_relative "../support/web_helpers"

# A plain Ruby process embedding Ferrokiq (Sidekiq.configure_embed): its script, its log, and
# the pipe the spec writes commands into ("quiet", "stop").
class EmbeddingHost
  LIB = File.expand_path("../../lib", __dir__)

  SCRIPT = <<~'RUBY'
    require "sidekiq"
    $stdout.sync = true

    class EmbeddedRecordJob
      include Sidekiq::Job

      def perform(label)
        Sidekiq.redis { |conn| conn.call("RPUSH", "ran", label) }
      end
    end

    # Records the jobs it sees: due jobs reach their queues through it (docs/design.md, §5.2).
    class EmbeddedClientRecorder
      def call(_klass, job, _queue, _pool)
        Sidekiq.redis { |conn| conn.call("RPUSH", "client_seen", job["jid"]) }
        yield
      end
    end

    # Registered the usual way: the embedded instance, a server, applies it too.
    Sidekiq.configure_server do |config|
      %i[startup quiet shutdown].each do |event|
        config.on(event) { Sidekiq.redis { |conn| conn.call("RPUSH", "events", event.to_s) } }
      end
      config.client_middleware { |chain| chain.add(EmbeddedClientRecorder) }
    end

    instance = Sidekiq.configure_embed do |config|
      config.queues = %w[embedded]
      config[:timeout] = 5
    end
    instance.run
    middleware = Sidekiq.default_configuration.server_middleware.map(&:klass).map(&:name)
    puts "host: server middleware #{middleware.join(",")}"
    begin
      Sidekiq.configure_embed { |config| config.concurrency = 9 }
    rescue RuntimeError => e
      puts "host: a second instance was refused: #{e.message}"
    end
    puts "host: running"
    $stdin.each_line do |command|
      case command.chomp
      when "quiet" then instance.quiet
      when "stop" then instance.stop
      end
      puts "host: #{command.chomp} done"
      break if command.chomp == "stop"
    end
    puts "host: exiting"
  RUBY

  attr_reader :pid

  def initialize
    @dir = Dir.mktmpdir("ferrokiq-embedded")
    @log_path = File.join(@dir, "host.log")
    File.write(File.join(@dir, "host.rb"), SCRIPT)
  end

  def start
    commands, @commands = IO.pipe
    @pid = Process.spawn({ "REDIS_URL" => REDIS.url, "RUBYOPT" => nil }, RbConfig.ruby, "-I", LIB, "host.rb",
                         chdir: @dir, in: commands, out: @log_path, err: @log_path)
    commands.close
    eventually do
      raise "the host exited before it ran:\n#{log}" unless alive?

      log.include?("host: running")
    end
    self
  end

  # Sends a command and waits until the host has carried it out.
  def command(name)
    @commands.puts(name)
    @commands.flush
    eventually { log.include?("host: #{name} done") }
  end

  def wait
    eventually { Process.wait2(@pid, Process::WNOHANG)&.last }
  end

  def alive?
    Process.waitpid(@pid, Process::WNOHANG).nil?
  rescue Errno::ECHILD
    false
  end

  def log
    File.exist?(@log_path) ? File.read(@log_path) : ""
  end

  def cleanup
    Process.kill("KILL", @pid) if @pid && alive?
    FileUtils.rm_rf(@dir)
  end
end

# Sidekiq.configure_embed in a plain Ruby process (not this one): the host script runs the
# instance, then quiets and stops it when told to on its standard input.
RSpec.describe "Embedded mode (Sidekiq.configure_embed)" do # rubocop:disable Metrics/BlockLength
  include WebHelpers

  let!(:host) { EmbeddingHost.new.start }

  after do |example|
    warn "--- host log (#{example.full_description}):\n#{host.log}" if example.exception
    host.cleanup
  end

  def push(label)
    Sidekiq::Client.push("class" => "EmbeddedRecordJob", "queue" => "embedded", "args" => [label])
  end

  def registered_process
    eventually { Sidekiq::ProcessSet.new.find { |process| process["pid"] == host.pid } }
  end

  it "runs jobs and registers as embedded, so neither the Web UI nor its signals list can stop it" do
    %w[a b c].each { |label| push(label) }
    eventually { redis_list("ran").sort == %w[a b c] }

    process = registered_process
    info = JSON.parse(Sidekiq.redis { |conn| conn.call("HGET", process.identity, "info") })
    expect(info).to include("embedded" => true, "concurrency" => 2, "queues" => ["embedded"])
    expect(redis_list("events")).to eq(["startup"])
    # One per process, made before it runs: the configuration is frozen once it does.
    expect(host.log).to include("host: a second instance was refused: Sidekiq's configuration is frozen")
    # Iterable jobs' re-queueing middleware is installed as in a CLI server.
    expect(host.log).to include("host: server middleware Sidekiq::Job::InterruptHandler")
    # The host's process title is its own.
    expect(File.read("/proc/#{host.pid}/cmdline")).to include("host.rb")

    get "/sidekiq/busy"
    expect(last_response.body).to include("#{process["hostname"]}:#{host.pid}", "embedded")
    expect(last_response.body).not_to include(%(name="identity" value="#{process.identity}"))
    expect { process.stop! }.to raise_error(RuntimeError, /embedded/)

    # A TERM written to the signals list anyway (by an older Web UI, say) is taken at the next
    # beat and ignored: the host goes on running jobs.
    Sidekiq.redis { |conn| conn.call("LPUSH", "#{process.identity}-signals", "TERM") }
    eventually(timeout: 30) { Sidekiq.redis { |conn| conn.call("EXISTS", "#{process.identity}-signals") }.zero? }
    push("after signal")
    eventually { redis_list("ran").include?("after signal") }
    expect(host).to be_alive
  end

  it "moves a due scheduled job through the host's client middleware and runs it" do
    registered_process
    jid = Sidekiq::Client.push("class" => "EmbeddedRecordJob", "queue" => "embedded", "args" => ["later"],
                               "at" => Time.now.to_f + 0.5)
    eventually { redis_list("ran") == ["later"] }
    expect(redis_list("client_seen")).to eq([jid])
    expect(Sidekiq.redis { |conn| conn.call("ZCARD", "schedule") }).to eq(0)
  end

  it "quiets, then stops cleanly: leaves the registry and lets the host exit" do
    identity = registered_process.identity
    host.command("quiet")
    expect(redis_list("events")).to eq(%w[startup quiet])
    push("too late")

    host.command("stop")
    expect(redis_list("events")).to eq(%w[startup quiet shutdown])
    expect(Sidekiq.redis { |conn| conn.call("SISMEMBER", "processes", identity) }).to eq(0)
    expect(host.wait).to be_success
    expect(host.log).to include("host: exiting")
    # Quiet came first: the job pushed after it is still waiting for another server.
    expect(queue_jobs("embedded").map { |job| job["args"] }).to eq([["too late"]])
  end
end

# examples/embedded_puma in a fresh copy: Debian's Puma in cluster mode, its worker running a
# Ferrokiq server from config/puma.rb's hooks, Bundler resolving Ferrokiq by path.
RSpec.describe "examples/embedded_puma" do # rubocop:disable Metrics/BlockLength
  before(:context) do
    @app = RailsApp.example("embedded_puma")
    @app.sh("bundle", "check")
  end
  after(:context) { @app&.destroy }

  def request(port, method, path)
    Net::HTTP.start("127.0.0.1", port) { |http| http.send_request(method, path) }
  end

  it "runs jobs inside the Puma worker and stops with it, cleanly" do
    port = RedisServer.free_port
    puma = @app.server(command: %w[bundle exec puma -C config/puma.rb], env: { "PORT" => port.to_s }).start
    (@servers ||= []) << puma
    eventually(timeout: 60) do
      request(port, "GET", "/").is_a?(Net::HTTPOK)
    rescue Errno::ECONNREFUSED
      false
    end

    %w[ann bob].each { |name| expect(request(port, "POST", "/greetings?name=#{name}").code).to eq("202") }
    greetings = eventually do
      lines = request(port, "GET", "/").body.lines(chomp: true)
      lines if lines.size == 2
    end
    worker_pids = greetings.map { |line| Integer(line[/from pid (\d+)/, 1]) }.uniq
    expect(greetings.map { |line| line[/hello (\w+)/, 1] }).to match_array(%w[ann bob])

    # The worker (not Puma's master) is the registered process, marked embedded.
    process = Sidekiq::ProcessSet.new.to_a.first
    expect([process["pid"]]).to eq(worker_pids)
    expect(process["pid"]).not_to eq(puma.pid)
    expect(process).to be_embedded

    # Ctrl-C: Puma's graceful stop, exit status 0 (on TERM it ends by re-raising the signal).
    puma.signal("INT")
    expect(puma.wait).to be_success
    expect(Sidekiq.redis { |conn| conn.call("SCARD", "processes") }).to eq(0)
    expect(puma.log).to match(/Stopping the embedded Ferrokiq server.*Embedded Ferrokiq server stopped/m)
    expect(puma.log).not_to include("busy threads")
  end
end
