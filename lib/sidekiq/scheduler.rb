# frozen_string_literal: true

# `require "sidekiq/scheduler"` (sidekiq-scheduler's entry point) loads Ferrokiq's built-in
# periodic jobs.
require "sidekiq"
require "ferrokiq/periodic"
