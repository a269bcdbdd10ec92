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
  spec.required_ruby_version = ">= 3.1"

  spec.files = Dir["lib/**/*.rb", "exe/*", "ext/**/*.{rs,toml,rb}", "core/**/*.{rs,toml}",
                   "Cargo.toml", "Cargo.lock", "README.md", "LICENSE"]
  spec.bindir = "exe"
  spec.executables = Dir["exe/*"].map { |path| File.basename(path) }
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/ferrokiq/extconf.rb"]
  spec.metadata["rubygems_mfa_required"] = "true"
end
