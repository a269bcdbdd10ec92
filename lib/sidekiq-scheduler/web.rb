# frozen_string_literal: true

# `require "sidekiq-scheduler/web"` (the plugin's line in routes.rb) adds Ferrokiq's "Recurring
# jobs" tab to the Web UI (docs/web.md, §2).
require "sidekiq-scheduler"
require "sidekiq/web"
require "sidekiq/web/pages/recurring_jobs"

Sidekiq::Web::Pages::RecurringJobs.install
