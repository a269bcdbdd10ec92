# frozen_string_literal: true

require_relative "lib/ferrokiq/version"

Gem::Specification.new do |spec|
  spec.name = "ferrokiq"
  spec.version = Ferrokiq::VERSION
  spec.summary = "Sidekiq 7's API with a Rust core: a drop-in replacement for the sidekiq gem"
  spec.description = "Change `gem \"sidekiq\"` to `gem \"ferrokiq\"`: the same job classes, " \
                     "configuration and Redis data, with fetching, retries and Redis I/O in Rust."
  spec.authors = ["Ferrokiq developers"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/ferrokiq/ferrokiq"
  spec.required_ruby_version = ">= 3.1"

  # The stand-in sidekiq gem travels along, so the path Ferrokiq's boot check suggests exists.
  # Everything under lib/ (the Web UI's views, styles, scripts and texts, the generator's
  # templates) but a library compiled in the work tree: the gem compiles its own.
  spec.files = Dir["lib/**/*", "exe/*", "ext/**/*.{rs,toml,rb}", "core/**/*.{rs,toml}",
                   "sidekiq-stand-in/**/*", "Cargo.toml", "Cargo.lock", "README.md", "LICENSE", "CHANGELOG.md"]
               .select { |path| File.file?(path) }
               .reject { |path| path.match?(%r{\Alib/ferrokiq/ferrokiq\.(so|bundle|so\.tmp)\z}) }
  spec.bindir = "exe"
  spec.executables = Dir["exe/*"].map { |path| File.basename(path) }
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/ferrokiq/extconf.rb"]
  spec.metadata = {
    "homepage_uri" => spec.homepage,
    "source_code_uri" => spec.homepage,
    "changelog_uri" => "#{spec.homepage}/blob/main/CHANGELOG.md",
    "bug_tracker_uri" => "#{spec.homepage}/issues",
    "rubygems_mfa_required" => "true"
  }
  # Building the gem needs cargo and rustc at least the workspace's rust-version (extconf.rb checks).
  rust_version = File.read(File.join(__dir__, "Cargo.toml"))[/^rust-version\s*=\s*"([\d.]+)"/, 1]
  spec.requirements = ["Rust (cargo and rustc) #{rust_version} or newer, from https://rustup.rs",
                       "libclang (Debian: libclang-dev)"]
  spec.post_install_message = <<~MSG
    Ferrokiq is installed. Another Sidekiq may come first on your PATH as `sidekiq` (Debian's
    ruby-sidekiq puts Sidekiq 6.4.1 in /usr/bin/sidekiq): in your app, run Ferrokiq's server
    through a binstub (`bundle binstub ferrokiq`, then `bin/sidekiq`) or `bundle exec sidekiq`,
    or use this gem's `ferrokiq` executable.
  MSG
end
