# frozen_string_literal: true

# `require "sidekiq/cron"` (sidekiq-cron's entry point) loads Ferrokiq's built-in version.
require "sidekiq/cron/configuration"
require "sidekiq/cron/job"
