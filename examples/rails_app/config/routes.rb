# frozen_string_literal: true

Rails.application.routes.draw do
  root "home#index"
  post "/reports", to: "reports#create"
  post "/audits", to: "audits#create"
end
