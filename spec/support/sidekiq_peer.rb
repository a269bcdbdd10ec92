# frozen_string_literal: true

require "open3"
require "rbconfig"
require "timeout"
require "tmpdir"

# Runs Debian's real Sidekiq 6.4.1 in a separate process, from a directory outside the project
# and with no load path or bundler settings of ours, so `require "sidekiq"` loads that gem and
# not Ferrokiq.
module SidekiqPeer
  GEM_DIR = "/usr/share/rubygems-integration/all/gems/sidekiq-6.4.1"
  PRELUDE = <<~RUBY
    require "sidekiq"
    raise "peer loaded Sidekiq \#{Sidekiq::VERSION}, not 6.4.1" unless Sidekiq::VERSION == "6.4.1"
    Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
    Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
  RUBY

  module_function

  def available?
    File.directory?(GEM_DIR)
  end

  def clean_env(redis_url)
    env = ENV.to_h.reject { |key, _| key.start_with?("BUNDLE", "RUBY", "GEM_") }
    env.merge("REDIS_URL" => redis_url)
  end

  # Runs a Ruby script with Sidekiq 6.4.1 loaded; returns its stdout, raises on failure.
  def run(script, redis_url:)
    Dir.mktmpdir("sidekiq-peer") do |dir|
      path = File.join(dir, "peer.rb")
      File.write(path, PRELUDE + script)
      out, err, status = Open3.capture3(clean_env(redis_url), RbConfig.ruby, path,
                                        chdir: dir, unsetenv_others: true)
      raise "Sidekiq 6.4.1 peer failed (#{status}):\n#{err}\n#{out}" unless status.success?

      out
    end
  end

  # Starts a Sidekiq 6.4.1 server (`/usr/bin/sidekiq`) on the given job file; yields while it
  # runs and stops it with TERM afterwards.
  def with_server(jobs_source, redis_url:, queues: ["default"], concurrency: 2)
    Dir.mktmpdir("sidekiq-peer") do |dir|
      File.write(File.join(dir, "jobs.rb"), PRELUDE + jobs_source)
      log = File.join(dir, "sidekiq.log")
      args = ["/usr/bin/sidekiq", "-r", "./jobs.rb", "-c", concurrency.to_s]
      queues.each { |queue| args += ["-q", queue] }
      pid = Process.spawn(clean_env(redis_url), RbConfig.ruby, *args, chdir: dir,
                                                                      unsetenv_others: true, out: log, err: log)
      begin
        yield
      rescue StandardError, RSpec::Expectations::ExpectationNotMetError
        warn File.read(log)
        raise
      ensure
        stop(pid)
      end
    end
  end

  def stop(pid)
    Process.kill("TERM", pid)
    Timeout.timeout(30) { Process.wait(pid) }
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  rescue Timeout::Error
    Process.kill("KILL", pid)
    Process.wait(pid)
  end
end
