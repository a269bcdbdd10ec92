# frozen_string_literal: true

# A plain Sidekiq job in the same app, enqueued with perform_async. It records the request that
# enqueued it from Current, set around `perform` by Sidekiq::CurrentAttributes.
class AuditJob
  include Sidekiq::Job
  sidekiq_options queue: "default", retry: 3

  def perform(event)
    entry = AuditEntry.create!(event:, jid:, request_id: Current.request_id)
    logger.info("audited #{entry.id}: #{event}")
  end
end
