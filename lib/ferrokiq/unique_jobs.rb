# frozen_string_literal: true

require "set"
require "ferrokiq/errors"
require "ferrokiq/sleeper"
require "ferrokiq/unique_jobs/settings"
require "ferrokiq/unique_jobs/lock_request"
require "ferrokiq/unique_jobs/scripts"
require "ferrokiq/unique_jobs/conflict"
require "ferrokiq/unique_jobs/client_locks"
require "ferrokiq/unique_jobs/server_locks"
require "ferrokiq/unique_jobs/reaper"

module Ferrokiq
  # Unique jobs, built in: sidekiq-unique-jobs 8's options, payload fields and Redis keys
  # (docs/design.md, §24). A job opts in with `lock:` in its sidekiq_options or through
  # `default_job_options`; `require "sidekiq_unique_jobs"` adds the plugin's Ruby names.
  module UniqueJobs
  end
end
