# frozen_string_literal: true

Rails.application.configure do
  # Code changes are picked up by the next request and by the next job.
  config.cache_classes = false
  config.eager_load = false
  config.consider_all_requests_local = true
  config.active_support.deprecation = :log
end
