# frozen_string_literal: true

# Written by AuditJob (a plain Sidekiq job).
class AuditEntry < ApplicationRecord
  validates :event, :jid, presence: true
end
