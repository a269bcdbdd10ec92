# frozen_string_literal: true

module Sidekiq
  # The Sidekiq API level Ferrokiq implements. Code (and gems) that branch on Sidekiq's
  # version see Sidekiq 7; Ferrokiq::VERSION is Ferrokiq's own.
  VERSION = "7.3.10"
  MAJOR = 7
end
