# frozen_string_literal: true

# POST /reports with title=... enqueues an Active Job; the report row appears once it has run.
class ReportsController < ApplicationController
  def create
    job = GenerateReportJob.perform_later(params.require(:title))
    render json: "#{JSON.generate(job_id: job.job_id, jid: job.provider_job_id)}\n", status: :accepted
  end
end
