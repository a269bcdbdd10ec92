# frozen_string_literal: true

# Nothing to load: `require "sidekiq"` is Ferrokiq's (see ../sidekiq.gemspec). RubyGems asks
# every gem for a require path, and this file keeps the directory in the package.
