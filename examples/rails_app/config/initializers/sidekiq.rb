# frozen_string_literal: true

require "sidekiq/middleware/current_attributes"

# Jobs pushed during a request carry `Current`'s attributes (app/models/current.rb) in their
# payload ("cattr"), and run with them set: AuditJob records the request it came from. By name,
# so that code reloading in development picks up the new class.
Sidekiq::CurrentAttributes.persist("Current")
