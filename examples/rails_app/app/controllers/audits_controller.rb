# frozen_string_literal: true

# POST /audits with event=... enqueues a Sidekiq job; the audit row appears once it has run.
class AuditsController < ApplicationController
  def create
    jid = AuditJob.perform_async(params.require(:event))
    render json: "#{JSON.generate(jid:)}\n", status: :accepted
  end
end
