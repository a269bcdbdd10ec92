# frozen_string_literal: true

# `require "sidekiq_unique_jobs/web"` (the plugin's line in routes.rb) adds Ferrokiq's "Locks"
# tab to the Web UI (docs/web.md, §2).
require "sidekiq_unique_jobs"
require "sidekiq/web"
require "sidekiq/web/pages/locks"

Sidekiq::Web::Pages::Locks.install
