# frozen_string_literal: true

require "json"
require "sidekiq/api"

# Jobs per example, the steps each one logs in order, and the formatters by name.
module LogFormatsCases
  JOB_COUNT = 60
  JOB_STEPS = %w[start before inside warned debug after done].freeze
  FORMATTER_LAYOUTS = { "Pretty" => :pretty, "WithoutTimestamp" => :without_timestamp, "JSON" => :json }.freeze
end

# A real server whose logger is Sidekiq's, with each of Sidekiq's formatters and on each kind of
# device, writes its lines through the core (docs/design.md, §12): every line is the one Ruby's
# formatter makes of the fields the line shows, and each job's lines (the core's start/done,
# the user's own from middleware and the job) come out in order.
RSpec.describe "Server log formats" do
  # +logger_setup+: Ruby run in configure_server with `config` in scope.
  def jobs_source(logger_setup)
    <<~RUBY
      class ContextMiddleware
        def call(_job, msg, _queue)
          Sidekiq::Context.with(tenant: "t\#{msg["args"].first}", ids: [1, nil, 2]) do
            Sidekiq.logger.info("before \#{msg["args"].first}")
            yield
          end
          Sidekiq.logger.info("after \#{msg["args"].first}")
        end
      end

      Sidekiq.configure_server do |config|
        #{logger_setup}
        config.server_middleware { |chain| chain.add(ContextMiddleware) }
      end

      class LoggingJob
        include Sidekiq::Job
        def perform(index)
          logger.debug("hidden \#{index}")
          logger.info { "inside \#{index} ünïcode" }
          logger.warn(RuntimeError.new("warned \#{index}"))
          logger.log_at(:debug) { logger.debug("debug \#{index}") }
          File.write("native.txt", Ferrokiq::NativeLog.attached.any? ? "core" : "ruby")
        end
      end
    RUBY
  end

  before do
    stub_const("LoggingJob", Class.new { include Sidekiq::Job })
    LoggingJob.perform_bulk((1..LogFormatsCases::JOB_COUNT).map { |i| [i] })
  end

  def run_server(logger_setup)
    server = start_server(jobs: jobs_source(logger_setup), args: %w[-c 4]).wait_until_running
    eventually { Sidekiq::Queue.new.size.zero? && Sidekiq::InFlightSet.new.size.zero? }
    expect(server.stop).to be_success
    server
  end

  # The fields a line shows: [time or nil, pid, tid, context pairs, severity, message].
  def fields(layout, line)
    if layout == :json
      h = JSON.parse(line)
      [h["ts"] && Time.iso8601(h["ts"]), h["pid"], h["tid"], h["ctx"] || {}, h["lvl"], h["msg"]]
    else
      md = line.match(/\A(?:(\S+Z) )?pid=(\d+) tid=(\w+)((?: \w+=\S*)*) ([A-Z]+): (.*)\n\z/) or return
      context = md[4].split.to_h { |pair| pair.split("=", 2) }
      [md[1] && Time.iso8601(md[1]), md[2].to_i, md[3], context, md[5], md[6]]
    end
  end

  # What Ruby's formatter writes for those fields, in this process.
  def ruby_line(formatter, fields)
    at, pid, tid, context, severity, message = fields
    allow(Process).to receive(:pid).and_return(pid)
    Thread.current["sidekiq_tid"] = tid
    Sidekiq::Context.with(context) { formatter.call(severity, at || Time.now, nil, message) }
  ensure
    Thread.current["sidekiq_tid"] = nil
    RSpec::Mocks.space.proxy_for(Process).reset
  end

  def expect_lines_as_ruby_writes_them(output, name)
    layout = LogFormatsCases::FORMATTER_LAYOUTS.fetch(name)
    formatter = Sidekiq::Logger::Formatters.const_get(name).new
    lines = output.lines.select { |line| line.include?("tid") }
    expect(lines.size).to be > LogFormatsCases::JOB_COUNT * 6
    lines.each do |line|
      parsed = fields(layout, line)
      expect(parsed).not_to be_nil, "unreadable line #{line.inspect}"
      expect(ruby_line(formatter, parsed)).to eq(line)
    end
    expect_each_job_in_order(lines.map { |line| fields(layout, line) })
  end

  def expect_each_job_in_order(parsed)
    by_jid = Hash.new { |h, k| h[k] = [] }
    current = {}
    parsed.each do |_at, _pid, tid, context, _severity, message|
      current[tid] = context["jid"] if context["jid"]
      step = message.to_s[/\A(start|done|before|inside|warned|debug|after)\b/, 1] or next
      by_jid[current[tid]] << step
    end
    expect(by_jid.size).to eq(LogFormatsCases::JOB_COUNT)
    by_jid.each_value { |steps| expect(steps).to eq(LogFormatsCases::JOB_STEPS) }
  end

  LogFormatsCases::FORMATTER_LAYOUTS.each_key do |name|
    it "writes standard output with the #{name} formatter as Ruby would, in order" do
      server = run_server("config.logger.formatter = Sidekiq::Logger::Formatters::#{name}.new")
      expect(File.read(File.join(server.dir, "native.txt"))).to eq("core")
      expect(server.log).not_to include("hidden")
      expect_lines_as_ruby_writes_them(server.log, name)
    end
  end

  it "writes a log file given by path, after Ruby's header line" do
    server = run_server(<<~RUBY)
      config.logger = Sidekiq::Logger.new(File.join(Dir.pwd, "app.log"))
      config.logger.formatter = Sidekiq::Logger::Formatters::JSON.new
    RUBY
    expect(File.read(File.join(server.dir, "native.txt"))).to eq("core")
    log = File.read(File.join(server.dir, "app.log"))
    expect(log.lines.first).to start_with("# Logfile created on ")
    expect_lines_as_ruby_writes_them(log.lines.drop(1).join, "JSON")
    expect(server.log).not_to include("inside")
  end

  it "writes to a File the app opened" do
    server = run_server(<<~RUBY)
      config.logger = Sidekiq::Logger.new(File.open(File.join(Dir.pwd, "app.log"), "a"))
      config.logger.formatter = Sidekiq::Logger::Formatters::WithoutTimestamp.new
    RUBY
    expect(File.read(File.join(server.dir, "native.txt"))).to eq("core")
    expect_lines_as_ruby_writes_them(File.read(File.join(server.dir, "app.log")), "WithoutTimestamp")
  end

  it "writes natively to a logger that a middleware makes when a job first needs it" do
    server = run_server(<<~RUBY)
      class AuditMiddleware
        LOCK = Mutex.new

        def self.log
          LOCK.synchronize do
            @log ||= Sidekiq::Logger.new(File.join(Dir.pwd, "audit.log")).tap do |made|
              made.formatter = Sidekiq::Logger::Formatters::JSON.new
            end
          end
        end

        def call(_job, msg, _queue)
          yield
          self.class.log.info("audited \#{msg["args"].first}")
          native = Ferrokiq::NativeLog.attached.any? { |attachment| attachment.logger.equal?(self.class.log) }
          File.write("audit-native.txt", native ? "core" : "ruby")
        end
      end
      config.server_middleware { |chain| chain.add(AuditMiddleware) }
    RUBY
    expect(File.read(File.join(server.dir, "audit-native.txt"))).to eq("core")
    header, *lines = File.read(File.join(server.dir, "audit.log")).lines
    expect(header).to start_with("# Logfile created on ")
    lines.each { |line| expect(ruby_line(Sidekiq::Logger::Formatters::JSON.new, fields(:json, line))).to eq(line) }
    audited = lines.map { |line| JSON.parse(line)["msg"][/\Aaudited (\d+)\z/, 1].to_i }
    expect(audited.sort).to eq((1..LogFormatsCases::JOB_COUNT).to_a)
  end

  it "leaves a logger with a formatter of the app's own to Ruby" do
    server = run_server(<<~RUBY)
      config.logger.formatter = proc { |severity, _time, _prog, message| "custom \#{severity} \#{message}\\n" }
    RUBY
    expect(File.read(File.join(server.dir, "native.txt"))).to eq("ruby")
    expect(server.log.scan(/^custom INFO inside \d+ ünïcode$/).size).to eq(LogFormatsCases::JOB_COUNT)
    expect(server.log.scan(/^custom INFO done$/).size).to eq(LogFormatsCases::JOB_COUNT)
  end
end
