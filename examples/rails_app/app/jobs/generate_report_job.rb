# frozen_string_literal: true

# An Active Job, enqueued with perform_later and run by `bin/sidekiq`. Active Job's own
# options (queue_as, retry_on) and Sidekiq's (sidekiq_options) both apply.
class GenerateReportJob < ApplicationJob
  queue_as :reports
  sidekiq_options retry: 5, backtrace: 10
  retry_on ActiveRecord::Deadlocked, wait: 5.seconds, attempts: 3

  def perform(title)
    report = Report.create!(title:, job_id:, provider_job_id:)
    Rails.logger.info("generated report #{report.id}: #{title}")
  end
end
