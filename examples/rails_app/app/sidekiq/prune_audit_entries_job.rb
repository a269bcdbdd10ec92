# frozen_string_literal: true

# Run every hour by the schedule in config/sidekiq_scheduler.yml.
class PruneAuditEntriesJob
  include Sidekiq::Job

  RETENTION = 30 * 24 * 3600

  def perform
    pruned = AuditEntry.where(created_at: ...Time.now - RETENTION).delete_all
    logger.info("pruned #{pruned} audit entries older than 30 days")
  end
end
