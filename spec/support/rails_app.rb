# frozen_string_literal: true

require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"
require_relative "server_process"

# A Rails app in a temporary directory, for specs that need Rails. Rails is loaded only in the
# processes this starts (clients with `run`, servers with `start_server`), never in the RSpec
# process, where its core extensions would change what other specs see.
class RailsApp
  ROOT = File.expand_path("../..", __dir__)
  LIB = File.join(ROOT, "lib")

  attr_reader :dir

  # +files+: relative path => source, written into a fresh directory. With +copy_of+, that
  # directory's files come first.
  def initialize(files = {}, copy_of: nil)
    @tmp = Dir.mktmpdir("ferrokiq-rails")
    @dir = File.join(@tmp, File.basename(copy_of || "app"))
    copy_of ? FileUtils.cp_r(copy_of, @dir) : FileUtils.mkdir_p(@dir)
    files.each { |path, source| write(path, source) }
  end

  # examples/+name+ as a newcomer finds it in a fresh clone, at examples/+name+ of a stand-in for
  # the repository whose other top-level entries are links to this one's: its Gemfile's
  # `path: "../.."` and its README's `cd examples/...` work unchanged. What running it leaves
  # behind here (Gemfile.lock, .bundle, log/, tmp/, databases) is not copied. #root is the
  # stand-in.
  def self.example(name)
    app = allocate
    app.send(:init_example, name)
    app
  end

  def root
    File.join(@tmp, "ferrokiq")
  end

  def write(path, source)
    full = File.join(@dir, path)
    FileUtils.mkdir_p(File.dirname(full))
    File.write(full, source)
  end

  def read(path)
    File.read(File.join(@dir, path))
  end

  # The environment of this process without its Ruby, Bundler and gem settings (the app has
  # its own), plus the spec's Redis.
  def env(extra = {})
    ENV.to_h.reject { |key, _| key.start_with?("BUNDLE", "RUBY", "GEM_") }
       .merge("REDIS_URL" => REDIS.url, "RAILS_ENV" => "development").merge(extra)
  end

  # Runs a command in the app's directory; returns its stdout, raises with its output on failure.
  def sh(*command, env: {})
    out, err, status = Open3.capture3(self.env(env), *command, chdir: @dir, unsetenv_others: true)
    raise "#{command.join(" ")} failed (#{status}):\n#{err}\n#{out}" unless status.success?

    out
  end

  # Boots the app (config/environment.rb) in a fresh Ruby with Ferrokiq's lib first on the load
  # path, runs +script+ and returns what it printed.
  def run(script, env: {})
    sh(RbConfig.ruby, "-I", LIB, "-e", "require File.expand_path('config/environment')\n#{script}", env:)
  end

  # Starts `command` (default: Ferrokiq's exe/sidekiq pointed at the app) in the app's directory.
  def server(command: [RbConfig.ruby, ServerProcess::EXE, "-r", @dir], env: {})
    RailsServerProcess.new(command:, dir: @dir, env: self.env(env))
  end

  # Removes the directory (links into the repository are removed, never followed).
  def destroy
    FileUtils.rm_rf(@tmp)
  end

  private

  def init_example(name)
    @tmp = Dir.mktmpdir("ferrokiq-rails")
    FileUtils.mkdir_p(File.join(root, "examples"))
    (Dir.children(ROOT) - %w[.git examples target]).each do |entry|
      File.symlink(File.join(ROOT, entry), File.join(root, entry))
    end
    @dir = File.join(root, "examples", name)
    FileUtils.cp_r(File.join(ROOT, "examples", name), @dir)
    FileUtils.rm_rf(%w[Gemfile.lock .bundle log tmp].map { |path| File.join(@dir, path) } +
                    Dir[File.join(@dir, "db", "*.sqlite3*")])
  end
end

# A server process for a RailsApp, with ServerProcess's waiting, signals, log and clean-up.
class RailsServerProcess < ServerProcess
  def initialize(command:, dir:, env:)
    super(jobs: "", env:)
    @command = command
    @app_dir = dir
  end

  def start
    @pid = Process.spawn(@env, *@command, chdir: @app_dir, out: @log_path, err: @log_path, unsetenv_others: true)
    self
  end
end
