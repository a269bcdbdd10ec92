# frozen_string_literal: true

require "json"
require "pathname"
require "stringio"
require "ferrokiq/native_log"

# The formatters, the calls and the contexts every formatter is tried with.
module NativeLogCases
  FORMATTERS = {
    pretty: Sidekiq::Logger::Formatters::Pretty,
    without_timestamp: Sidekiq::Logger::Formatters::WithoutTimestamp,
    json: Sidekiq::Logger::Formatters::JSON
  }.freeze

  # A message whose `to_s` only Ruby knows.
  class ShownAs
    def initialize(text)
      @text = text
    end

    def to_s = @text
  end

  BOOM = begin
    raise ArgumentError, "boom ü"
  rescue ArgumentError => e
    e
  end

  CALLS = {
    "a String" => ->(l) { l.info("plain") },
    "a block" => ->(l) { l.info { "from a block" } },
    "a progname and a block" => ->(l) { l.warn("prog") { "the block wins" } },
    "add with a progname" => ->(l) { l.add(Logger::ERROR, "message", "prog") },
    "add with only a progname" => ->(l) { l.add(Logger::ERROR, nil, "progname as message") },
    "log" => ->(l) { l.log(Logger::FATAL, "via log") },
    "unknown" => ->(l) { l.unknown("u") },
    "an out-of-range severity" => ->(l) { l.add(9, "nine") },
    "a nil severity" => ->(l) { l.add(nil, "nil") },
    "an exception with a backtrace" => ->(l) { l.error(BOOM) },
    "an exception without one" => ->(l) { l.warn(RuntimeError.new("bare")) },
    "nil" => ->(l) { l.info(nil) },
    "a Symbol" => ->(l) { l.info(:symbol) },
    "an Integer" => ->(l) { l.info(42) },
    "a Float" => ->(l) { l.info(1.5) },
    "a bignum" => ->(l) { l.info(2**70) },
    "NaN" => ->(l) { l.info(Float::NAN) },
    "an Array" => ->(l) { l.info([1, nil, "a", [:b, 2.0]]) },
    "a Hash" => ->(l) { l.info({ "a" => 1, b: [nil] }) },
    "unicode" => ->(l) { l.info("ünïcode ✓ 日本") },
    "newlines and control characters" => ->(l) { l.info("multi\nline\ttab\u0001\"quoted\"\\/") },
    "an object with its own to_s" => ->(l) { l.info(ShownAs.new("custom")) },
    "a binary string" => ->(l) { l.info("\xFF\xFEbytes".b) },
    "a Latin-1 string" => ->(l) { l.info("caf\xE9".dup.force_encoding(Encoding::ISO_8859_1)) },
    "debug at INFO" => ->(l) { l.debug("suppressed") },
    "debug inside log_at(:debug)" => ->(l) { l.log_at(:debug) { l.debug("shown") } },
    "info inside log_at(:warn)" => ->(l) { l.log_at(:warn) { l.info("suppressed") } },
    "warn inside log_at(:warn)" => ->(l) { l.log_at(:warn) { l.warn("shown") } },
    "<<" => ->(l) { l << "raw text\n" }
  }.freeze

  CONTEXTS = {
    "no context" => nil,
    "a job's context" => { class: "HardJob", jid: "0123456789abcdef01234567" },
    "nested tags, bid and elapsed" => [{ class: "A", jid: "j" }, { bid: "b1", tags: %w[a b], elapsed: 0.012 }],
    "nils only" => { bid: nil },
    "mixed values" => { "str" => "ü", sym: :value, int: -3, float: 1e20, flag: false, none: nil,
                        list: [1, [nil, "x"]], empty: [] },
    "a Hash value" => { nested: { "a" => [1, nil] } },
    "a NaN" => { ratio: Float::NAN },
    "an object" => { who: ShownAs.new("someone") },
    # The core holds texts of up to 24 bytes inline and longer ones on the heap.
    "texts either side of 24 bytes" => { "k" * 23 => "v" * 23, "k" * 24 => "v" * 24, "k" * 25 => "v" * 25,
                                         "#{"k" * 22}ü": "#{"v" * 23}ü",
                                         request_id: "7a1c0e7e-5d6b-4a55-9c49-0f0c3b1e2a11" }
  }.freeze
end

# A server logger's lines formatted and written by the core are the bytes Ruby's formatter
# writes for the same call (docs/design.md, §12). Each call is made twice: through a logger
# attached to the native writer, and through a Ruby logger with the same formatter writing to
# another file while `Time.now` returns the time the native line shows.
RSpec.describe Ferrokiq::NativeLog, :native do
  let(:dir) { Dir.mktmpdir("ferrokiq-native-log") }
  let(:path) { File.join(dir, "sidekiq.log") }

  after do
    described_class.detach_all
    FileUtils.rm_rf(dir)
  end

  def attached_logger(device, formatter)
    logger = Sidekiq::Logger.new(device)
    logger.formatter = formatter.new
    attachment = described_class.attach(logger)
    expect(attachment).not_to be_nil
    [logger, attachment]
  end

  # What the block logs through +logger+, read back from +path+.
  def native_output(logger, attachment)
    offset = File.size(path)
    outcome = capture { yield logger }
    attachment.writer.flush
    [File.binread(path)[offset..], outcome]
  end

  # Ruby's logger writes to a file too: an IO writes a String's bytes as they are, where a
  # StringIO would transcode them.
  def ruby_output(native, at)
    reference = File.join(dir, "ruby.log")
    File.write(reference, "")
    logger = Sidekiq::Logger.new(reference, level: native.level)
    logger.formatter = native.formatter.class.new
    allow(Time).to receive(:now).and_return(at) if at
    outcome = capture { yield logger }
    logger.close
    [File.binread(reference), outcome]
  ensure
    RSpec::Mocks.space.proxy_for(Time).reset
  end

  def capture
    yield
    :returned
  rescue StandardError => e
    e.class
  end

  # The time a native line shows, to give Ruby's formatter the same one (each call below logs
  # one line at most).
  def shown_time(output)
    stamp = output[/\A(\d{4}-\d\d-\d\dT[\d:.]+Z) /, 1] || output[/\A\{"ts":"([^"]+)"/, 1]
    stamp && Time.iso8601(stamp)
  end

  def expect_same_bytes(logger, attachment, &call)
    native, native_outcome = native_output(logger, attachment, &call)
    ruby, ruby_outcome = ruby_output(logger, shown_time(native), &call)
    expect(native_outcome).to eq(ruby_outcome)
    expect(native).to eq(ruby)
    native
  end

  def within_context(context, &block)
    layers = Array(context.is_a?(Hash) ? [context] : context)
    layers.reverse.reduce(block) { |inner, layer| -> { Sidekiq::Context.with(layer, &inner) } }.call
  end

  NativeLogCases::FORMATTERS.each do |name, formatter|
    describe "with the #{name} formatter" do
      it "writes every kind of call and context as Ruby would" do
        logger, attachment = attached_logger(path, formatter)
        NativeLogCases::CONTEXTS.each do |context_name, context|
          NativeLogCases::CALLS.each do |call_name, call|
            within_context(context) { expect_same_bytes(logger, attachment, &call) }
          rescue RSpec::Expectations::ExpectationNotMetError => e
            raise e.exception("#{call_name} with #{context_name}: #{e.message}")
          end
        end
      end

      it "writes to a File the user opened, and to a Pathname" do
        File.write(path, "before\n")
        file = File.open(path, "a")
        logger, attachment = attached_logger(file, formatter)
        Sidekiq::Context.with(class: "A") { expect_same_bytes(logger, attachment) { |l| l.info("to a File") } }
        attachment.detach
        logger, attachment = attached_logger(Pathname.new(path), formatter)
        expect_same_bytes(logger, attachment) { |l| l.info("to a Pathname") }
        expect(File.read(path)).to start_with("before\n")
      end
    end
  end

  it "keeps Ruby Logger's header line of a file it creates" do
    logger, attachment = attached_logger(path, NativeLogCases::FORMATTERS[:pretty])
    logger.info("first")
    attachment.writer.flush
    expect(File.read(path)).to match(/\A# Logfile created on .* by logger\.rb.*\n.* INFO: first\n\z/)
  end

  it "writes the lines Ruby had to format in order with the others" do
    logger, attachment = attached_logger(path, NativeLogCases::FORMATTERS[:pretty])
    300.times do |i|
      logger.info("native #{i}")
      logger.info(NativeLogCases::ShownAs.new("ruby #{i}"))
      logger << "raw #{i}\n"
    end
    attachment.writer.flush
    lines = File.read(path).lines.drop(1)
    expect(lines.map { |line| line[/(native|ruby|raw) \d+$/] })
      .to eq((0...300).flat_map { |i| ["native #{i}", "ruby #{i}", "raw #{i}"] })
  end

  it "gives $stdout back when a logger on standard output is closed" do
    reader, writer = IO.pipe
    stdout = $stdout
    $stdout = writer
    logger = Sidekiq::Logger.new(writer)
    described_class.attach(logger)
    expect($stdout).to be_a(Ferrokiq::LogPipe)
    logger.info("queued")
    puts "after the line"
    logger.close
    expect($stdout).to equal(writer)
    expect(reader.read).to match(/INFO: queued\nafter the line\n\z/)
  ensure
    $stdout = stdout
  end

  it "flushes on close and on reopen, and follows a reopened file" do
    logger, _attachment = attached_logger(path, NativeLogCases::FORMATTERS[:pretty])
    logger.info("before rotation")
    File.rename(path, "#{path}.1")
    logger.reopen
    logger.info("after rotation")
    logger.close
    expect(File.read("#{path}.1")).to end_with("INFO: before rotation\n")
    expect(File.read(path)).to match(/\A# Logfile created on .*\n.* INFO: after rotation\n\z/)
  end

  it "lets Ruby write the lines of a forked child" do
    logger, attachment = attached_logger(path, NativeLogCases::FORMATTERS[:pretty])
    logger.info("parent before")
    pid = fork do
      logger.info("child")
      exit!(0)
    end
    Process.wait(pid)
    logger.info("parent after")
    attachment.detach
    expect(File.read(path).lines.map { |line| line[/INFO: (.*)/, 1] }.compact)
      .to contain_exactly("parent before", "child", "parent after")
  end

  it "follows a formatter changed while attached, in order" do
    logger, attachment = attached_logger(path, NativeLogCases::FORMATTERS[:pretty])
    Sidekiq::Context.with(class: "A") do
      logger.info("pretty")
      attachment.writer.flush
      logger.formatter = NativeLogCases::FORMATTERS[:json].new
      expect_same_bytes(logger, attachment) { |l| l.info({ "as" => "json" }) }
      logger.formatter = proc { |severity, _time, _prog, message| "custom #{severity} #{message}\n" }
      expect(logger).not_to be_natively_formatted
      expect(native_output(logger, attachment) { |l| l.warn("mine") }.first).to eq("custom WARN mine\n")
      logger.formatter = NativeLogCases::FORMATTERS[:without_timestamp].new
      expect_same_bytes(logger, attachment) { |l| l.info("plain again") }
    end
    expect(File.read(path).lines.drop(1).first).to match(/Z pid=\d+ tid=\w+ class=A INFO: pretty\n/)
  end

  it "lets Ruby write after detaching" do
    logger, attachment = attached_logger(path, NativeLogCases::FORMATTERS[:pretty])
    attachment.detach
    logger.info("by Ruby")
    expect(File.read(path)).to end_with("INFO: by Ruby\n")
    expect(described_class.attached).to be_empty
  end

  it "attaches at server start the app's other loggers that write files of their own" do
    server_logger = Sidekiq::Logger.new(path)
    app_log = Sidekiq::Logger.new(File.join(dir, "app.log"))
    app_log.formatter = NativeLogCases::FORMATTERS[:json].new
    on_stdout = Sidekiq::Logger.new($stdout)
    in_memory = Sidekiq::Logger.new(StringIO.new)
    expect(described_class.attach_server_loggers(server_logger).logger).to equal(server_logger)
    attached = described_class.attached.map(&:logger)
    expect(attached).to include(server_logger, app_log)
    expect(attached).not_to include(on_stdout, in_memory)
    app_log.info("structured")
    described_class.detach_all
    expect(JSON.parse(File.read(File.join(dir, "app.log")).lines.last)).to include("msg" => "structured")
  end

  describe "loggers made while a server runs" do
    let(:limit) { described_class.const_get(:MADE_WHILE_SERVING) }

    before { described_class.attach_server_loggers(Sidekiq::Logger.new(File.join(dir, "server.log"))) }

    def attachment_of(logger)
      described_class.attached.find { |attachment| attachment.logger.equal?(logger) }
    end

    it "are attached as they are made and write as Ruby would" do
      logger = Sidekiq::Logger.new(path)
      logger.formatter = NativeLogCases::FORMATTERS[:json].new
      attachment = attachment_of(logger)
      expect(attachment).not_to be_nil
      context = NativeLogCases::CONTEXTS["a job's context"]
      native, = within_context(context) { native_output(logger, attachment) { |l| l.info("made by a job") } }
      described_class.detach_all # the reference logger below must write through Ruby
      ruby, = within_context(context) { ruby_output(logger, shown_time(native)) { |l| l.info("made by a job") } }
      expect(native).to include("made by a job")
      expect(native).to eq(ruby)
    end

    it "are attached up to a limit, on files of their own, and not after the server stopped" do
      made = Array.new(limit + 1) { |i| Sidekiq::Logger.new(File.join(dir, "made-#{i}.log")) }
      expect(made.map { |logger| !attachment_of(logger).nil? }).to eq([true] * limit + [false])
      expect(attachment_of(Sidekiq::Logger.new($stdout))).to be_nil
      described_class.detach_all
      expect(attachment_of(Sidekiq::Logger.new(path))).to be_nil
      expect(described_class.attached).to be_empty
    end
  end

  describe "loggers that stay with Ruby" do
    def stays_ruby(logger)
      expect(described_class.attach(logger)).to be_nil
    end

    it "leaves other devices, formatters, classes and rotating files alone" do
      stays_ruby(Sidekiq::Logger.new(StringIO.new))
      stays_ruby(Sidekiq::Logger.new(path).tap { |l| l.formatter = Logger::Formatter.new })
      stays_ruby(Sidekiq::Logger.new(path).tap { |l| l.formatter = Class.new(NativeLogCases::FORMATTERS[:pretty]).new })
      stays_ruby(Sidekiq::Logger.new(path).tap { |l| l.formatter = proc { |*, msg| "#{msg}\n" } })
      stays_ruby(Logger.new(path).tap { |l| l.formatter = NativeLogCases::FORMATTERS[:pretty].new })
      stays_ruby(Class.new(Sidekiq::Logger).new(path))
      stays_ruby(Sidekiq::Logger.new(path, 3, 1024))
      stays_ruby(Sidekiq::Logger.new(path, "daily"))
      stays_ruby(Sidekiq::Logger.new(nil))
    end
  end
end
