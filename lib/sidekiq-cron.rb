# frozen_string_literal: true

# `require "sidekiq-cron"` (what Bundler.require does for the plugin) loads Ferrokiq's
# built-in version of its API.
require "sidekiq/cron"
