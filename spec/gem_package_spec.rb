# frozen_string_literal: true

require "open3"
require "fileutils"
require "rbconfig"

# The gem as users get it: built, installed offline with its native extension compiled by
# extconf.rb (no rb_sys), and `require "sidekiq"` working from outside the project.
RSpec.describe "The ferrokiq gem package" do
  root = File.expand_path("..", __dir__)
  work = File.join(root, "tmp", "gem-package")

  def run!(env, *cmd, **opts)
    out, status = Open3.capture2e(env, *cmd, **opts)
    raise "#{cmd.join(" ")} failed:\n#{out}" unless status.success?

    out
  end

  it "builds, installs offline and pushes jobs" do
    FileUtils.rm_rf(work)
    FileUtils.mkdir_p(work)
    gem_file = File.join(work, "ferrokiq.gem")
    run!({}, "gem", "build", "ferrokiq.gemspec", "--output", gem_file, chdir: root)
    # A stable target dir under the repo keeps rebuilds incremental across runs.
    env = { "FERROKIQ_CARGO_TARGET_DIR" => File.join(root, "target", "gem-package") }
    run!(env, "gem", "install", "--local", "--no-document", "--install-dir", File.join(work, "home"), gem_file)

    script = <<~RUBY
      require "sidekiq"
      lib = $LOADED_FEATURES.grep(%r{/ferrokiq/ferrokiq\\.so\\z}).first
      jid = Sidekiq::Client.push("class" => "PackagedJob", "args" => ["from the gem"])
      puts lib, jid
    RUBY
    clean = ENV.to_h.reject { |key, _| key.start_with?("BUNDLE", "RUBY", "GEM_") }
    clean.merge!("GEM_HOME" => File.join(work, "home"), "GEM_PATH" => File.join(work, "home"),
                 "REDIS_URL" => REDIS.url)
    lib, jid = run!(clean, RbConfig.ruby, "-e", script, chdir: work, unsetenv_others: true).lines.map(&:chomp)
    expect(lib).to start_with(File.join(work, "home"))
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jid])
  end
end
