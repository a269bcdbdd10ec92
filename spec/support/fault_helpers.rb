# frozen_string_literal: true

require "json"
require "securerandom"
require "socket"
require "tmpdir"
require "fileutils"
require "yaml"
require_relative "redis_server"
require_relative "server_process"

# A minimal RESP2 client over a plain TCP socket, independent of the code under test: the fault
# specs read Redis through it while that code's own client may be what is broken (invalid UTF-8
# replies, timeouts, re-sent commands). Strings come back as binary (ASCII-8BIT) Strings.
class RawRedis
  class Error < StandardError; end

  def initialize(port, timeout: 10)
    @port = port
    @timeout = timeout
  end

  def call(*words)
    with_socket do |socket|
      write_command(socket, words)
      read_reply(socket)
    end
  end

  # Several commands on one connection, replies in order (errors returned, not raised).
  def pipeline(commands)
    with_socket do |socket|
      socket.write(commands.map { |words| encode(words) }.join)
      commands.map { read_reply(socket, raise_errors: false) }
    end
  end

  # Sends a command that blocks the server (e.g. DEBUG SLEEP 5) on a connection of its own and
  # returns at once; the connection closes when the command's reply arrives (or on +join+).
  def send_detached(*words)
    socket = TCPSocket.new("127.0.0.1", @port)
    socket.write(encode(words))
    Thread.new do
      socket.read(1) rescue nil # rubocop:disable Style/RescueModifier
    ensure
      socket.close
    end
  end

  private

  def with_socket
    socket = TCPSocket.new("127.0.0.1", @port)
    yield socket
  ensure
    socket&.close
  end

  def encode(words)
    parts = words.map { |word| word.to_s.b }
    "*#{parts.size}\r\n".b + parts.map { |part| "$#{part.bytesize}\r\n".b + part + "\r\n".b }.join.b
  end

  def write_command(socket, words)
    socket.write(encode(words))
  end

  def gets(socket)
    raise Error, "no reply from Redis on port #{@port} within #{@timeout}s" unless socket.wait_readable(@timeout)

    line = socket.gets("\r\n")
    raise Error, "Redis on port #{@port} closed the connection" unless line

    line.b.chomp("\r\n")
  end

  def read_exact(socket, size)
    data = +"".b
    while data.bytesize < size
      raise Error, "no reply from Redis on port #{@port} within #{@timeout}s" unless socket.wait_readable(@timeout)

      chunk = socket.read_nonblock(size - data.bytesize, exception: false)
      next if chunk == :wait_readable
      raise Error, "Redis on port #{@port} closed the connection" if chunk.nil?

      data << chunk
    end
    data
  end

  def read_reply(socket, raise_errors: true)
    line = gets(socket)
    type = line[0]
    rest = line[1..]
    case type
    when "+" then rest
    when "-"
      error = Error.new(rest.dup.force_encoding(Encoding::UTF_8).scrub)
      raise error if raise_errors

      error
    when ":" then Integer(rest)
    when "$"
      size = Integer(rest)
      return nil if size.negative?

      read_exact(socket, size + 2)[0, size]
    when "*"
      size = Integer(rest)
      return nil if size.negative?

      Array.new(size) { read_reply(socket, raise_errors:) }
    else
      raise Error, "unexpected reply from Redis: #{line.inspect}"
    end
  end
end

# What the fault specs share: the job classes they run, the files jobs and error handlers write
# to, a YAML config with a short `stranded_after`, Redis inspection through RawRedis, and the
# invariant every fault spec asserts.
module FaultHelpers
  # The sweep bound the specs configure, so they run in seconds rather than minutes.
  STRANDED_AFTER = 2

  # Job classes for the server processes. Each job records its jid when it has run: in the
  # file RAN_FILE names when that is set (Redis may be away), else in the Redis set "ran".
  # Error handlers append one line per report to ERRORS_FILE.
  JOBS = <<~'RUBY'
    require "json"

    module Fault
      module_function

      def clean(text, limit = 300)
        text.to_s[0, limit].dup.force_encoding(Encoding::UTF_8).scrub("?")
      end

      def append(path, line)
        File.open(path, "a") { |f| f.write("#{line}\n") }
      end

      # Redis mode also counts runs per jid (the "runs" hash), to tell duplicates.
      def record(jid)
        if ENV["RAN_FILE"]
          append(ENV["RAN_FILE"], jid)
        else
          Sidekiq.redis do |conn|
            conn.sadd("ran", jid.to_s)
            conn.hincrby("runs", jid.to_s, 1)
          end
        end
      end

      def started(jid)
        append(ENV["STARTED_FILE"], jid) if ENV["STARTED_FILE"]
      end

      # True the first time it is called for +key+ (kept in a file: works while Redis is away).
      def first_time?(key)
        path = File.join(ENV.fetch("MARKS_DIR"), key.to_s.gsub(/[^\w-]/, "_"))
        File.open(path, File::WRONLY | File::CREAT | File::EXCL).close
        true
      rescue Errno::EEXIST
        false
      end
    end

    Sidekiq.configure_server do |config|
      config[:stranded_after] = Integer(ENV["STRANDED_AFTER"]) if ENV["STRANDED_AFTER"]
      config.error_handlers << lambda do |ex, ctx, _cfg = nil|
        job = ctx[:job]
        jid = job.is_a?(Hash) ? job["jid"] : nil
        Fault.append(ENV.fetch("ERRORS_FILE"),
                     "#{ex.class}: #{Fault.clean(ex.message)} #{ctx[:context]} jid=#{Fault.clean(jid, 40)} " \
                     "jobstr=#{Fault.clean(ctx[:jobstr], 80).inspect}")
      end
    end

    # Runs (optionally sleeping +seconds+ first) and records its jid.
    class RecordJob
      include Sidekiq::Job
      def perform(seconds = 0, *)
        Fault.started(jid)
        sleep(seconds.to_f) if seconds.is_a?(Numeric) && seconds.positive? && seconds.finite?
        Fault.record(jid)
      end
    end

    # Needs exactly one argument.
    class OneArgJob
      include Sidekiq::Job
      def perform(_value)
        Fault.record(jid)
      end
    end

    # Records that it was attempted, then raises.
    class FailJob
      include Sidekiq::Job
      def perform(*)
        Fault.append(ENV.fetch("ATTEMPTS_FILE"), jid) if ENV["ATTEMPTS_FILE"]
        raise ArgumentError, "FailJob #{jid} fails on purpose"
      end
    end

    # The first run kills its own worker thread (Thread#kill, no exception); a later run records.
    class KillThreadJob
      include Sidekiq::Job
      def perform
        Thread.current.kill if Fault.first_time?("kill-#{jid}")
        Fault.record(jid)
      end
    end

    # The first run raises an Exception that is no StandardError; a later run records.
    class NonStandardErrorJob
      include Sidekiq::Job
      def perform(kind)
        if Fault.first_time?("raise-#{jid}")
          case kind
          when "NoMemoryError" then raise NoMemoryError, "pretend we ran out of memory"
          when "exit" then exit
          when "SignalException" then raise SignalException, "HUP"
          else raise Exception, "a bare Exception" # rubocop:disable Lint/RaiseException
          end
        end
        Fault.record(jid)
      end
    end
  RUBY

  def fault_dir
    @fault_dir ||= Dir.mktmpdir("ferrokiq-faults")
  end

  def ran_file = File.join(fault_dir, "ran.txt")
  def errors_file = File.join(fault_dir, "errors.txt")
  def attempts_file = File.join(fault_dir, "attempts.txt")
  def started_file = File.join(fault_dir, "started.txt")

  def marks_dir
    File.join(fault_dir, "marks").tap { |dir| FileUtils.mkdir_p(dir) }
  end

  # The environment every fault server gets. +file_records+: jobs record in RAN_FILE.
  def fault_env(redis_url: REDIS.url, file_records: false, stranded_after: STRANDED_AFTER, **extra)
    env = { "REDIS_URL" => redis_url, "ERRORS_FILE" => errors_file, "ATTEMPTS_FILE" => attempts_file,
            "STARTED_FILE" => started_file, "MARKS_DIR" => marks_dir }
    env["STRANDED_AFTER"] = stranded_after.to_s if stranded_after
    env["RAN_FILE"] = ran_file if file_records
    env.merge(extra.transform_keys(&:to_s))
  end

  # A YAML config file for `-C`, e.g. `{ stranded_after: 2, concurrency: 2 }`.
  def config_file(options)
    path = File.join(fault_dir, "sidekiq-#{SecureRandom.hex(3)}.yml")
    File.write(path, options.transform_keys(&:to_s).to_yaml)
    path
  end

  # Starts a Ferrokiq server on the fault job classes.
  # +stranded_after+ goes in through the jobs' configure_server block (nil: not there, e.g. when
  # +yaml+ sets it); +yaml+ options are written to a file passed with `-C`.
  def start_fault_server(args: %w[-c 2], redis_url: REDIS.url, file_records: false, env: {}, yaml: nil,
                         stranded_after: STRANDED_AFTER)
    args += ["-C", config_file(yaml)] if yaml
    start_server(jobs: JOBS, args:, env: fault_env(redis_url:, file_records:, stranded_after:).merge(env))
  end

  def raw_redis(server = REDIS)
    RawRedis.new(server.port)
  end

  # ---- payloads -------------------------------------------------------------------------

  def new_jid = SecureRandom.hex(12)

  # A job payload as Sidekiq's client writes it (JSON text, binary String).
  def payload(klass, args, jid: new_jid, queue: "default", **extra)
    job = { "retry" => true, "queue" => queue, "class" => klass, "args" => args, "jid" => jid,
            "created_at" => Time.now.to_f, "enqueued_at" => Time.now.to_f }
    JSON.generate(job.merge(extra.transform_keys(&:to_s))).b
  end

  # A payload whose args are [0, <raw JSON text>] (for what JSON.generate refuses to write:
  # 1e400, invalid UTF-8, 10k-deep nesting).
  def payload_with_raw(klass, raw, jid: new_jid, **extra)
    payload(klass, [0, "RAW"], jid:, **extra).sub('"RAW"'.b, raw.b)
  end

  # LPUSHes raw payloads onto a queue (so the first one given is fetched first).
  def push_raw(redis, payloads, queue: "default")
    payloads.each_slice(500) do |slice|
      redis.pipeline([["SADD", "queues", queue], ["LPUSH", "queue:#{queue}", *slice]])
    end
  end

  # Pushes +count+ RecordJobs; returns their jids.
  def push_record_jobs(redis, count, seconds: 0, queue: "default")
    jids = Array.new(count) { new_jid }
    push_raw(redis, jids.map { |jid| payload("RecordJob", [seconds], jid:, queue:) }, queue:)
    jids
  end

  # ---- reading what happened ----------------------------------------------------------------

  def ran_jids(redis = raw_redis)
    from_file = File.exist?(ran_file) ? File.read(ran_file).split("\n") : []
    from_redis = begin
      redis.call("SMEMBERS", "ran").map { |jid| jid.dup.force_encoding(Encoding::UTF_8) }
    rescue RawRedis::Error, SystemCallError
      []
    end
    (from_file + from_redis).uniq
  end

  # What the jobs recorded in RAN_FILE (readable while Redis is away).
  def file_ran_jids
    File.exist?(ran_file) ? File.read(ran_file).split("\n") : []
  end

  def error_lines
    File.exist?(errors_file) ? File.read(errors_file).split("\n") : []
  end

  def attempts
    File.exist?(attempts_file) ? File.read(attempts_file).split("\n") : []
  end

  def started_jids
    File.exist?(started_file) ? File.read(started_file).split("\n") : []
  end

  # jid => how many times it ran (file lines, or the "runs" hash in Redis).
  def run_counts(redis = raw_redis)
    counts = Hash.new(0)
    File.read(ran_file).split("\n").each { |jid| counts[jid] += 1 } if File.exist?(ran_file)
    redis.call("HGETALL", "runs").each_slice(2) do |jid, count|
      counts[jid.dup.force_encoding("UTF-8")] += Integer(count)
    end
    counts
  end

  # The jid inside a stored payload, or the raw payload itself when it is no JSON job (so a
  # malformed entry can still be found by its bytes).
  def jid_of(entry)
    job = JSON.parse(entry.dup.force_encoding(Encoding::UTF_8))
    job.is_a?(Hash) && job["jid"].is_a?(String) ? job["jid"] : entry
  rescue JSON::ParserError, EncodingError
    entry.b[/"jid":"(\h{24})"/n, 1] || entry
  end

  def working_list_keys(redis)
    redis.call("KEYS", "ferrokiq:working:*")
  end

  # Where every job is: { jid => ["ran", "queue:default", "retry", "dead", "schedule",
  # "ferrokiq:working:<identity>:<queue>", ...] }. Entries that are no JSON job are keyed by
  # their bytes.
  def job_locations(redis = raw_redis)
    places = Hash.new { |hash, key| hash[key] = [] }
    ran_jids(redis).each { |jid| places[jid] << "ran" }
    redis.call("KEYS", "queue:*").each do |key|
      redis.call("LRANGE", key, 0, -1).each { |entry| places[jid_of(entry)] << key.dup.force_encoding("UTF-8") }
    end
    %w[retry schedule dead].each do |set|
      redis.call("ZRANGE", set, 0, -1).each { |entry| places[jid_of(entry)] << set }
    end
    working_list_keys(redis).each do |key|
      redis.call("LRANGE", key, 0, -1).each { |entry| places[jid_of(entry)] << key.dup.force_encoding("UTF-8") }
    end
    places
  end

  SAFE_PLACES = %w[ran retry schedule dead].freeze

  def safe_place?(place)
    SAFE_PLACES.include?(place) || place.start_with?("queue:")
  end

  # The jobs (of +jids+) that did not run and are in no queue, retry, schedule or dead set
  # (with +places+, e.g. %w[ran dead]: in none of those): { jid => where it is instead
  # ([] = nowhere: lost; working lists only: stranded) }.
  def unaccounted(jids, redis = raw_redis, places: nil)
    located = job_locations(redis)
    jids.each_with_object({}) do |jid, out|
      where = located.fetch(jid, [])
      settled = places ? where.intersect?(places) : where.any? { |place| safe_place?(place) }
      out[jid] = where unless settled
    end
  end

  def describe_unaccounted(missing, places)
    lost = missing.count { |_, where| where.empty? }
    stranded = missing.count do |_, where|
      !where.empty? && where.all? { |place| place.start_with?("ferrokiq:working:") }
    end
    sample = missing.first(5).map { |jid, where| "#{jid.to_s[0, 60].inspect} => #{where.inspect}" }
    "#{missing.size} jobs not in #{places ? places.join("/") : "a queue or ran/retry/schedule/dead"} " \
      "(#{lost} lost, #{stranded} only in working lists): #{sample.join("; ")}"
  end

  # THE INVARIANT: every job of +jids+ ran, or sits in a queue, the retry, schedule or dead set
  # (or, with +places+, in one of those places); none only in a working list beyond the sweep
  # bound (waits up to +within+ seconds for the sweep) and none lost.
  def expect_every_job_accounted_for(jids, redis: raw_redis, within: STRANDED_AFTER + 8, places: nil)
    missing = nil
    deadline = monotonic + within
    loop do
      missing = begin
        unaccounted(jids, redis, places:)
      rescue RawRedis::Error, SystemCallError => e
        { "(Redis unreadable)" => [e.message] }
      end
      break if missing.empty? || monotonic > deadline

      sleep 0.25
    end
    expect(missing).to be_empty, -> { describe_unaccounted(missing, places) }
  end

  # Every job of +jids+ has run (at least once).
  def expect_every_job_ran(jids, redis: raw_redis, within: 30)
    expect_every_job_accounted_for(jids, redis:, within:, places: ["ran"])
  end

  # ---- processes ----------------------------------------------------------------------

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  def identity_of(server, redis = raw_redis)
    members = redis.call("SMEMBERS", "processes").map { |id| id.dup.force_encoding("UTF-8") }
    members.find { |id| id.include?(":#{server.pid}:") }
  end

  # Waits until +server+ has registered itself in the Redis +redis+ talks to; returns its identity.
  def wait_registered(server, redis = raw_redis, timeout: 30)
    deadline = monotonic + timeout
    until (identity = identity_of(server, redis))
      raise "server #{server.pid} did not register within #{timeout}s:\n#{server.log}" if monotonic > deadline
      raise "server #{server.pid} exited before registering:\n#{server.log}" unless server.alive?

      sleep 0.05
    end
    identity
  end

  # The exit status, or nil while it is still running after +timeout+.
  def exit_status_within(server, timeout)
    server.wait(timeout:)
  rescue RuntimeError
    nil
  end

  # Waits until the block is truthy; false (no exception) when it is not within +timeout+.
  def within?(timeout, interval: 0.1)
    deadline = monotonic + timeout
    loop do
      return true if yield
      return false if monotonic > deadline

      sleep interval
    end
  end
end

RSpec.configure do |config|
  faults = { file_path: %r{/spec/faults/} }
  config.include FaultHelpers, faults
  config.after(faults) do |example|
    # FAULT_LOGS=1 shows every server's log and the error reports, failed example or not.
    if ENV["FAULT_LOGS"] && !example.exception
      (@servers || []).each { |server| warn "--- server #{server.pid} log (#{example.description}):\n#{server.log}" }
      warn "--- error reports:\n#{error_lines.join("\n")}" if @fault_dir
    end
    FileUtils.rm_rf(@fault_dir) if @fault_dir
    @fault_dir = nil
  end
end
