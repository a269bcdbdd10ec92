# frozen_string_literal: true

# `require "sidekiq-scheduler"` (what Bundler.require does for the plugin) loads Ferrokiq's
# built-in periodic jobs.
require "sidekiq/scheduler"
