# frozen_string_literal: true

# Before anything else: refuses to load beside the real sidekiq gem.
require "ferrokiq/sidekiq_gem_check"
require "json"
require "ferrokiq/version"
require "ferrokiq/errors"
# The native library looks the error classes up, so it loads after them.
require "ferrokiq/ferrokiq"
require "ferrokiq/redis_connection"
require "ferrokiq/redis_pool"
require "ferrokiq/sleeper"

# Ferrokiq: Sidekiq's API with a Rust core. Applications use it through `require "sidekiq"`;
# this module holds what is Ferrokiq's own.
module Ferrokiq
end

# Bundler.require loads a gem by its name, so an app whose Gemfile says `gem "ferrokiq"` where
# it said `gem "sidekiq"` arrives here first; it gets the Sidekiq API, as it did with Sidekiq.
# When lib/sidekiq.rb is what loaded this file, it defined Sidekiq::VERSION first. Keep this last.
require "sidekiq" unless defined?(::Sidekiq::VERSION)
