# frozen_string_literal: true

# `require "sidekiq/cron/web"` (sidekiq-cron's line in routes.rb) adds Ferrokiq's "Recurring
# jobs" tab, which lists sidekiq-cron's jobs with the other periodic jobs (docs/web.md, §2).
require "sidekiq/cron"
require "sidekiq/web"
require "sidekiq/web/pages/recurring_jobs"

Sidekiq::Web::Pages::RecurringJobs.install
