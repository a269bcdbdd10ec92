# frozen_string_literal: true

require "open3"
require "fileutils"
require "rbconfig"
require "rubygems/package"

# The gem as users get it: built, installed offline with its native extension compiled by
# extconf.rb (no rb_sys), and `require "sidekiq"` working from outside the project. The library is
# installed once (lib/ferrokiq/ferrokiq.so in the gem's directory) and carries no debug info.
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
    home = File.join(work, "home")
    installed = run!(env, "gem", "install", "--local", "--no-document", "--install-dir", home, gem_file)
    expect(installed).to include("bundle exec sidekiq") # the post-install note about other Sidekiqs

    script = <<~RUBY
      require "sidekiq"
      lib = $LOADED_FEATURES.grep(%r{/ferrokiq/ferrokiq\\.so\\z}).first
      jid = Sidekiq::Client.push("class" => "PackagedJob", "args" => ["from the gem"])
      require "sidekiq/web"
      require "rack/mock"
      require "rack/session/cookie"
      web = Rack::Builder.new do
        use Rack::Session::Cookie, secret: "s" * 64
        run Sidekiq::Web
      end
      pages = ["/", "/stylesheets/ferrokiq.css", "/javascripts/dashboard.js"].map do |path|
        Rack::MockRequest.new(web).get(path).status
      end
      puts lib, jid, pages.join(",")
    RUBY
    clean = ENV.to_h.reject { |key, _| key.start_with?("BUNDLE", "RUBY", "GEM_") }
    clean.merge!("GEM_HOME" => File.join(work, "home"), "GEM_PATH" => File.join(work, "home"),
                 "REDIS_URL" => REDIS.url)
    # Rack comes with the app (Rails, a config.ru); the gem does not depend on it for jobs alone.
    rack = Gem::Specification.find_by_name("rack").full_require_paths
    lib, jid, web_statuses = run!(clean, RbConfig.ruby, *rack.flat_map { |dir| ["-I", dir] }, "-e", script,
                                  chdir: work, unsetenv_others: true)
                             .lines.map(&:chomp)
    expect(lib).to start_with(home)
    # The Web UI's views, styles and scripts travel in the gem.
    expect(web_statuses).to eq("200,200,200")
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jid])

    # One copy: not also in ext/ferrokiq/ (make's output) nor in the extensions directory.
    libraries = Dir.glob(File.join(home, "**", "*.{so,bundle}"))
    gem_dir = File.join(home, "gems", Gem::Package.new(gem_file).spec.full_name)
    expect(libraries).to eq([File.join(gem_dir, "lib", "ferrokiq", "ferrokiq.#{RbConfig::CONFIG["DLEXT"]}")])
    expect(lib).to eq(libraries.first)

    sections = run!({}, "readelf", "-S", "-W", lib)
    expect(sections).to include(".text")
    expect(sections.scan(/\.(?:z?debug|stab)\w*/).uniq).to eq([])

    mib = ->(bytes) { format("%<mib>.1f MiB (%<bytes>d bytes)", mib: bytes / 1024.0 / 1024, bytes: bytes) }
    total = Dir.glob(File.join(home, "**", "*"), File::FNM_DOTMATCH).sum { |f| File.file?(f) ? File.size(f) : 0 }
    RSpec.configuration.reporter.message(
      "\ngem package: library #{mib.call(File.size(lib))}, installed gem #{mib.call(total)} " \
      "(of which the cached .gem #{mib.call(File.size(gem_file))})"
    )
  end
end
