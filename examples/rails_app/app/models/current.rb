# frozen_string_literal: true

# What the current request is about, for any code it runs, jobs included: the controller sets it,
# and Sidekiq::CurrentAttributes (config/initializers/sidekiq.rb) carries it in every job pushed
# during the request and sets it again around the job's `perform`. Rails resets it after each
# request and Ferrokiq after each job.
class Current < ActiveSupport::CurrentAttributes
  # The request's X-Request-Id (Rails makes one up when the client sent none).
  attribute :request_id
end
