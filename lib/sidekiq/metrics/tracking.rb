# frozen_string_literal: true

require "sidekiq"
require "sidekiq/metrics/shared"

# Apps written for Sidekiq 7 may require this file. Ferrokiq needs no middleware for it: every
# server records execution metrics in its engine (lib/ferrokiq/execution_metrics.rb and
# docs/wire-format.md §14), so requiring it adds nothing to the middleware chain.
