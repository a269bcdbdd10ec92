# frozen_string_literal: true

require "sidekiq/web"
# The tabs of the plugins the configuration guide installs (built into Ferrokiq): recurring
# jobs (config/sidekiq_scheduler.yml) and unique-job locks.
require "sidekiq-scheduler/web"
require "sidekiq_unique_jobs/web"

Rails.application.routes.draw do
  root "home#index"
  # The Web UI, behind basic auth (config/initializers/sidekiq_web.rb). Mounted inside the
  # routes, it shares the app's cookie session (config/application.rb).
  mount Sidekiq::Web => "/sidekiq"
  post "/reports", to: "reports#create"
  post "/audits", to: "audits#create"
end
