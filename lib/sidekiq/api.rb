# frozen_string_literal: true

# Sidekiq's Data API (`require "sidekiq/api"`): Sidekiq 7's classes over the data in Redis,
# readable whether Ferrokiq or Sidekiq 6.4, 7 or 8 wrote it. Meant for dashboards, consoles and
# operations scripts, not for application logic: everything here reads live, changing data.

require "sidekiq"
require "ferrokiq/paging"
require "ferrokiq/scan"
require "ferrokiq/timestamp"
require "sidekiq/api/stats"
require "sidekiq/api/job_record"
require "sidekiq/api/queue"
require "sidekiq/api/queue_limits"
require "sidekiq/api/sorted_entry"
require "sidekiq/api/sorted_sets"
require "sidekiq/api/process_set"
require "sidekiq/api/work_set"
require "sidekiq/api/in_flight"
require "sidekiq/metrics/query"

# Deleting a unique job gives back its lock (docs/design.md, §24).
require "ferrokiq/unique_jobs/data_api"
Ferrokiq::UniqueJobs::DataApi.install
