# frozen_string_literal: true

require "open3"

# The command line and config/sidekiq.yml, as Sidekiq 7 reads them.
RSpec.describe "sidekiq command line" do
  def run_cli(*args, chdir: Dir.tmpdir)
    Open3.capture3({ "REDIS_URL" => REDIS.url }, RbConfig.ruby, ServerProcess::EXE, *args, chdir: chdir)
  end

  it "prints the version and help" do
    out, _, status = run_cli("-V")
    expect(status).to be_success
    expect(out).to include("Sidekiq #{Sidekiq::VERSION}")
    out, _, status = run_cli("-h")
    expect(status.exitstatus).to eq(1)
    expect(out).to include("--concurrency", "--queue", "--config", "--fetch")
  end

  {
    %w[--bogus] => /invalid option: --bogus/,
    %w[-c zero] => /invalid value for Integer/,
    %w[-c 0] => /concurrency: 0 is not a valid value/,
    %w[-t -1] => /timeout: -1 is not a valid value/,
    %w[--fetch magic] => /invalid argument: --fetch magic/,
    %w[-C /nonexistent.yml] => %r{No such file /nonexistent.yml},
    %w[-r /nonexistent.rb] => /Please point Sidekiq to a Rails application or a Ruby file/,
    [] => /Please point Sidekiq to a Rails application or a Ruby file .*the current directory/
  }.each do |args, message|
    it "rejects #{args.join(" ")} with a message and exit status 1" do
      _, err, status = run_cli(*args)
      expect(status.exitstatus).to eq(1)
      expect(err).to match(message)
      expect(err).not_to include("from /") # no stack dump
    end
  end

  it "refuses a Redis older than 6.2 before the startup event, naming the version" do
    Dir.mktmpdir do |dir|
      # A stand-in speaking just enough RESP: HELLO, then INFO as Redis 6.0 answers it.
      fake = TCPServer.new("127.0.0.1", 0)
      server = Thread.new do
        loop do
          client = fake.accept
          Thread.new(client) do |conn|
            while (header = conn.gets)
              words = Array.new(header[1..].to_i) { conn.read(conn.gets[1..].to_i + 2).chomp }
              body = "# Server\r\nredis_version:6.0.16\r\n"
              conn.write(case words.first.upcase
                         when "HELLO" then "%1\r\n+server\r\n+redis\r\n"
                         when "INFO" then "$#{body.bytesize}\r\n#{body}\r\n"
                         else "+OK\r\n"
                         end)
            end
          rescue IOError, SystemCallError
            nil
          end
        end
      rescue IOError
        nil
      end
      File.write(File.join(dir, "jobs.rb"), "Sidekiq.configure_server { |c| c.on(:startup) { puts 'STARTUP FIRED' } }\n")
      out, err, status = Open3.capture3({ "REDIS_URL" => "redis://127.0.0.1:#{fake.addr[1]}/0" }, RbConfig.ruby,
                                        ServerProcess::EXE, "-r", "./jobs.rb", chdir: dir)
      expect(status.exitstatus).to eq(1)
      expect(err).to include("needs Redis 6.2.0 or newer", "is Redis 6.0.16")
      expect(out).not_to include("STARTUP FIRED")
    ensure
      server&.kill
      fake&.close
    end
  end

  it "rejects a malformed YAML file" do
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "bad.yml"), ":concurrency: [unclosed\n")
      _, err, status = run_cli("-C", "bad.yml", chdir: dir)
      expect(status.exitstatus).to eq(1)
      expect(err).to match(/did not find expected|while parsing/)
    end
  end

  it "reads config/sidekiq.yml: ERB, symbol and string keys, environment sections, queue weights" do
    jobs = "class YamlJob\n  include Sidekiq::Job\n  def perform; end\nend\n"
    server = ServerProcess.new(jobs: jobs, args: %w[-e production], env: { "YAML_THREADS" => "7" })
    FileUtils.mkdir_p(File.join(server.dir, "config"))
    File.write(File.join(server.dir, "config", "sidekiq.yml"), <<~YAML)
      :concurrency: 2
      timeout: 9
      :tag: yaml-tag
      :labels: [blue, green]
      :pidfile: server.pid
      :queues:
        - [critical, 3]
        - "default,1"
        - low
      production:
        :concurrency: <%= ENV.fetch("YAML_THREADS") %>
    YAML
    (@servers ||= []) << server.start
    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }
    info = JSON.parse(Sidekiq.redis { |conn| conn.hget(identity, "info") })
    expect(info).to include("concurrency" => 7, "tag" => "yaml-tag", "labels" => %w[blue green],
                            "queues" => %w[critical default low],
                            "weights" => [{ "critical" => 3, "default" => 1, "low" => 0 }])
    expect(File.read(File.join(server.dir, "server.pid"))).to eq(server.pid.to_s)
    expect(server.stop).to be_success
  end

  it "lets flags override the file" do
    server = ServerProcess.new(jobs: "", args: %w[-c 3 -q only -g flags -C custom.yml])
    File.write(File.join(server.dir, "custom.yml"), ":concurrency: 9\n:queues: [a, b]\n:tag: file\n")
    (@servers ||= []) << server.start
    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }
    info = JSON.parse(Sidekiq.redis { |conn| conn.hget(identity, "info") })
    expect(info).to include("concurrency" => 3, "queues" => ["only"], "tag" => "flags")
    expect(server.stop).to be_success
  end

  it "keeps config[:config_file] for plugins, and on Heroku (DYNO) logs without timestamps under the dyno's name" do
    jobs = <<~RUBY
      CustomEnq = Class.new
      Sidekiq.configure_server do |config|
        config[:scheduled_enq] = CustomEnq
        config.on(:startup) { Sidekiq.redis { |conn| conn.set("config_file", config[:config_file]) } }
      end
    RUBY
    server = ServerProcess.new(jobs:, args: %w[-C custom.yml], env: { "DYNO" => "worker.1" })
    File.write(File.join(server.dir, "custom.yml"), ":concurrency: 2\n")
    (@servers ||= []) << server.start
    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }
    expect(identity).to start_with("worker.1:#{server.pid}:")
    expect(Sidekiq.redis { |conn| conn.get("config_file") }).to eq("custom.yml")
    expect(server.stop).to be_success
    lines = server.log.lines.grep(/ INFO: /)
    expect(lines).not_to be_empty
    expect(lines).to all(start_with("pid=#{server.pid} tid="))
    # A custom mover of due jobs would never run: the server says so.
    expect(server.log).to include("WARN: config[:scheduled_enq] (CustomEnq) is not used")
  end
end
