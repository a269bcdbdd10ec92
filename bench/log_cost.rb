# frozen_string_literal: true

# What one `logger.info` line from a job costs the calling thread: a Sidekiq::Logger on a file
# written by Ruby (its formatter, then a write(2) under the LogDevice's lock) against the same
# logger attached to the core's writer (Ferrokiq::NativeLog: level check and message in Ruby,
# the values handed to the writer thread, which formats and writes in batches). Each formatter,
# with a job's context (class, jid, a request id) in force, as inside a job. Reported: the
# caller's time per line (the fastest of ROUNDS rounds of LINES lines), and the time until the
# last line is on disk (the native writer flushed), per line.
#
#   ruby bench/log_cost.rb                 # 200k lines, 5 rounds
#   LINES=500000 ROUNDS=3 ruby bench/log_cost.rb
#
# Build first (rake compile). Benchmarks are measurements, not tests.

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require "ferrokiq/native_log"
require "tmpdir"

LINES = Integer(ENV.fetch("LINES", 200_000))
ROUNDS = Integer(ENV.fetch("ROUNDS", 5))
FORMATTERS = %w[Pretty WithoutTimestamp JSON].freeze
CONTEXT = { class: "HardJob", jid: "0123456789abcdef01234567", request_id: "4b0e2c1e-6f3a-4d2b-9d7e" }.freeze

def clock
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

# [caller seconds, seconds until written] for LINES lines.
def round(logger, attachment)
  started = clock
  Sidekiq::Context.with(CONTEXT) do
    LINES.times { |i| logger.info("performing HardJob attempt=#{i}") }
  end
  called = clock
  attachment&.writer&.flush
  [called - started, clock - started]
end

def measure(dir, formatter, native)
  path = File.join(dir, "#{formatter}-#{native}.log")
  logger = Sidekiq::Logger.new(path)
  logger.formatter = Sidekiq::Logger::Formatters.const_get(formatter).new
  attachment = native ? Ferrokiq::NativeLog.attach(logger) : nil
  runs = Array.new(ROUNDS) { round(logger, attachment) }
  attachment&.detach
  logger.close
  runs.min_by(&:first).map { |seconds| seconds / LINES * 1e6 }
end

Dir.mktmpdir("ferrokiq-log-cost") do |dir|
  puts "formatter          Ruby us/line  core us/line  ratio  (until written: Ruby, core)"
  FORMATTERS.each do |formatter|
    ruby = measure(dir, formatter, false)
    core = measure(dir, formatter, true)
    puts format("%<name>-17s %<ruby>13.3f %<core>13.3f %<ratio>5.1fx  (%<ruby_all>.3f, %<core_all>.3f)",
                name: formatter, ruby: ruby[0], core: core[0], ratio: ruby[0] / core[0],
                ruby_all: ruby[1], core_all: core[1])
  end
end
