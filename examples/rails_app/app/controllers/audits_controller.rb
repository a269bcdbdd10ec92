# frozen_string_literal: true

# POST /audits with event=... enqueues a Sidekiq job; the audit row appears once it has run,
# with this request's id (the job gets it through Current, not through its arguments).
class AuditsController < ApplicationController
  def create
    jid = AuditJob.perform_async(params.require(:event))
    render json: "#{JSON.generate(jid:, request_id: Current.request_id)}\n", status: :accepted
  end
end
