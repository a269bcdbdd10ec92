# frozen_string_literal: true

# POST /audits?event=... enqueues a Sidekiq job; the audit row appears once it has run.
class AuditsController < ApplicationController
  def create
    jid = AuditJob.perform_async(params.require(:event))
    render json: { jid: }, status: :accepted
  end
end
