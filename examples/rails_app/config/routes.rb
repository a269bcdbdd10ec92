# frozen_string_literal: true

require "sidekiq/web"

Rails.application.routes.draw do
  root "home#index"
  # The Web UI, behind basic auth (config/initializers/sidekiq_web.rb). Mounted inside the
  # routes, it shares the app's cookie session (config/application.rb).
  mount Sidekiq::Web => "/sidekiq"
  post "/reports", to: "reports#create"
  post "/audits", to: "audits#create"
end
