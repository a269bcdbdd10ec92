# frozen_string_literal: true

# A plain Sidekiq job in the same app, enqueued with perform_async.
class AuditJob
  include Sidekiq::Job
  sidekiq_options queue: "default", retry: 3

  def perform(event)
    entry = AuditEntry.create!(event:, jid:)
    logger.info("audited #{entry.id}: #{event}")
  end
end
