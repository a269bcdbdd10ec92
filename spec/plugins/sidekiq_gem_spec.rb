# frozen_string_literal: true

require "open3"
require "tmpdir"

# A plugin that depends on the sidekiq gem, in an app that uses Ferrokiq: Bundler resolves
# offline from Debian's gems, and Ferrokiq either refuses to boot beside the real sidekiq, naming
# the plugin, or runs the plugin on its stand-in gem.
RSpec.describe "The sidekiq gem beside Ferrokiq" do
  ROOT = File.expand_path("../..", __dir__)
  PLUGIN = File.join(ROOT, "spec/fixtures/sidekiq_plugin")
  # Only Ferrokiq's own gemspec from the checkout: as a user who installed the gem sees it.
  FERROKIQ = %(gem "ferrokiq", path: #{ROOT.inspect}, glob: "ferrokiq.gemspec")

  around do |example|
    Dir.mktmpdir("ferrokiq-bundle") do |dir|
      @dir = dir
      example.run
    end
  end

  # Writes the Gemfile, resolves it offline, then runs +script+ under `bundle exec ruby`.
  # `bundle check` resolves and locks without installing anything: `bundle install` would write
  # the path gems' executables into the system's gem bin directory.
  def bundle_and_run(gems, script)
    File.write(File.join(@dir, "Gemfile"), ["source \"https://rubygems.org\"", *gems].join("\n"))
    env = { "BUNDLE_GEMFILE" => File.join(@dir, "Gemfile"), "RUBYOPT" => nil, "REDIS_URL" => REDIS.url,
            "BUNDLE_APP_CONFIG" => File.join(@dir, ".bundle") }
    out, status = Open3.capture2e(env, "bundle", "check", chdir: @dir)
    raise "bundle check failed:\n#{out}" unless status.success?

    Open3.capture2e(env, "bundle", "exec", RbConfig.ruby, "-e", script, chdir: @dir)
  end

  def locked_sidekiq
    File.read(File.join(@dir, "Gemfile.lock"))[/^    sidekiq \(([\d.]+)\)/, 1]
  end

  it "refuses to boot beside the real sidekiq a plugin pulled in, naming the plugin and the way out" do
    out, status = bundle_and_run([FERROKIQ, %(gem "sidekiq_fixture_plugin", path: #{PLUGIN.inspect})],
                                 "Bundler.require")
    expect(locked_sidekiq).to eq("6.4.1")
    expect(status).not_to be_success
    expect(out).to include("Ferrokiq::SidekiqGemConflict", "sidekiq 6.4.1 is active in this process too",
                           "required by sidekiq_fixture_plugin 1.0.0",
                           %(gem "sidekiq", path: "#{ROOT}/sidekiq-stand-in"))
  end

  it "refuses the same way whichever is required first, and in the server executable" do
    gems = [%(gem "sidekiq_fixture_plugin", path: #{PLUGIN.inspect}), FERROKIQ]
    out, status = bundle_and_run(gems, 'require "sidekiq_fixture_plugin"; require "ferrokiq"')
    expect(status).not_to be_success
    expect(out).to include("Ferrokiq::SidekiqGemConflict")
    File.write(File.join(@dir, "jobs.rb"), "")
    out, status = Open3.capture2e({ "BUNDLE_GEMFILE" => File.join(@dir, "Gemfile"), "RUBYOPT" => nil },
                                  "bundle", "exec", RbConfig.ruby, File.join(ROOT, "exe/sidekiq"), "-r", "./jobs.rb",
                                  chdir: @dir)
    expect(status.exitstatus).to eq(1)
    expect(out).to include("sidekiq: Ferrokiq replaces the sidekiq gem", "required by sidekiq_fixture_plugin")
  end

  it "names Debian's sidekiq-cron when it brings Sidekiq 6.4.1 in" do
    out, status = bundle_and_run([FERROKIQ, 'gem "sidekiq-cron"'], "Bundler.require")
    expect(status).not_to be_success
    expect(out).to include("required by sidekiq-cron 1.8.0")
  end

  it "runs a plugin that needs only the public API on Ferrokiq's stand-in gem" do
    stand_in = %(gem "sidekiq", path: #{File.join(ROOT, "sidekiq-stand-in").inspect})
    gems = [FERROKIQ, stand_in, %(gem "sidekiq_fixture_plugin", path: #{PLUGIN.inspect})]
    out, status = bundle_and_run(gems, <<~RUBY)
      Bundler.require
      puts "#{"Sidekiq"} \#{Sidekiq::VERSION} from \#{$LOADED_FEATURES.grep(%r{/sidekiq.rb$}).first}"
      puts SidekiqFixturePlugin.enqueue(42)
    RUBY
    expect(status).to be_success, out
    expect(locked_sidekiq).to eq(Sidekiq::VERSION)
    expect(out).to include("Sidekiq #{Sidekiq::VERSION} from #{ROOT}/lib/sidekiq.rb")
    job = JSON.parse(Sidekiq.redis { |conn| conn.lpop("queue:plugin") })
    expect(job).to include("class" => "PluginJob", "args" => [42], "jid" => out.lines.last.strip)
  end

  it "resolves a plugin's sidekiq to the stand-in by itself when Ferrokiq comes from its repository" do
    out, status = bundle_and_run([%(gem "ferrokiq", path: #{ROOT.inspect}),
                                  %(gem "sidekiq_fixture_plugin", path: #{PLUGIN.inspect})],
                                 "Bundler.require; SidekiqFixturePlugin.enqueue(1)")
    expect(status).to be_success, out
    expect(locked_sidekiq).to eq(Sidekiq::VERSION)
  end
end
