# frozen_string_literal: true

# Apps written for sidekiq-limit_fetch may still require it: queue limits are built into
# Ferrokiq, and this loads their Ruby API (`Sidekiq::Queue["bulk"].limit = 3`, docs/design.md
# §23).
require "sidekiq/api"
