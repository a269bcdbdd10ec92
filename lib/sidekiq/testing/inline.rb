# frozen_string_literal: true

# `require "sidekiq/testing/inline"`: the testing API with inline mode as the global mode, so
# every `perform_async` runs the job at once.
require "sidekiq/testing"

Sidekiq::Testing.inline!
