# frozen_string_literal: true

# Written by AuditJob (a plain Sidekiq job), with the id of the request that enqueued it.
class AuditEntry < ApplicationRecord
  validates :event, :jid, presence: true
end
