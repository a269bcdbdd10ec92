# frozen_string_literal: true

require "rbconfig"
require "tmpdir"

# Runs Ferrokiq's real `exe/sidekiq` as a separate process against the test Redis.
class ServerProcess
  ROOT = File.expand_path("../..", __dir__)
  EXE = File.join(ROOT, "exe", "sidekiq")

  attr_reader :pid, :log_path, :dir

  # +jobs+: Ruby source defining the job classes (and any configure_server block).
  def initialize(jobs:, args: [], env: {})
    @dir = Dir.mktmpdir("ferrokiq-server")
    File.write(File.join(@dir, "jobs.rb"), jobs)
    @args = args
    @env = env
    @log_path = File.join(@dir, "server.log")
  end

  def start
    env = { "REDIS_URL" => REDIS.url, "RUBYOPT" => nil }.merge(@env)
    @pid = Process.spawn(env, RbConfig.ruby, EXE, "-r", "./jobs.rb", *@args,
                         chdir: @dir, out: @log_path, err: @log_path)
    self
  end

  # Waits until the server has registered itself (it handles signals from then on).
  def wait_until_running(timeout: 30)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until Sidekiq.redis { |conn| conn.smembers("processes") }.any? { |id| id.include?(":#{@pid}:") }
      raise "server #{@pid} did not start:\n#{log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
    self
  end

  def signal(name)
    Process.kill(name, @pid)
  end

  # Sends TERM and waits; returns the exit status.
  def stop(timeout: 30)
    signal("TERM")
    wait(timeout: timeout)
  end

  def wait(timeout: 30)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      _, status = Process.wait2(@pid, Process::WNOHANG)
      return status if status
      raise "server #{@pid} did not exit within #{timeout}s:\n#{log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
  end

  def kill!
    signal("KILL")
    Process.wait(@pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  def log
    File.exist?(@log_path) ? File.read(@log_path) : ""
  end

  # Asks a live server to log every thread's backtrace (TTIN), so a failed example's log shows
  # where a stuck job was.
  def dump_threads
    return unless @pid && alive?

    size = File.size?(@log_path).to_i
    signal("TTIN")
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 2
    sleep 0.05 until File.size?(@log_path).to_i > size || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    sleep 0.2 # the rest of the dump
  end

  def cleanup
    kill! if @pid && alive?
    FileUtils.rm_rf(@dir)
  end

  def alive?
    Process.kill(0, @pid) && Process.waitpid(@pid, Process::WNOHANG).nil?
  rescue Errno::ESRCH, Errno::ECHILD
    false
  end
end

# Starts servers for an example and cleans them up afterwards.
module ServerHelpers
  def start_server(**options)
    server = ServerProcess.new(**options).start
    (@servers ||= []) << server
    server
  end

  def redis_list(key)
    Sidekiq.redis { |conn| conn.lrange(key, 0, -1) }
  end

  # A list of JSON records written by jobs, parsed.
  def redis_json_list(key)
    redis_list(key).map { |json| JSON.parse(json) }
  end
end

RSpec.configure do |config|
  config.include ServerHelpers
  config.after do |example|
    (@servers || []).each do |server|
      if example.exception
        server.dump_threads
        warn "--- server log (#{example.full_description}):\n#{server.log}"
      end
      server.cleanup
    end
  end
end
