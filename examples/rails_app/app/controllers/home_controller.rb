# frozen_string_literal: true

require "sidekiq/api"

# GET /: the rows the jobs wrote, what Redis holds, and how to enqueue more (plain text). Without
# Redis the rows are still shown, under what is wrong with Redis, and the status is 503.
class HomeController < ApplicationController
  def index
    redis, status = begin
      [redis_summary, :ok]
    rescue Sidekiq::RedisClientAdapter::BaseError => e
      [redis_problem(e), :service_unavailable]
    end
    render plain: [redis, rows, how_to_enqueue].join("\n"), status:
  end

  private

  def redis_summary
    stats = Sidekiq::Stats.new
    "Redis at #{Sidekiq.redis_pool.url}: #{stats.processed} processed, #{stats.failed} failed, " \
      "#{stats.enqueued} enqueued, #{stats.retry_size} to retry, #{stats.dead_size} dead; " \
      "#{stats.processes_size} bin/sidekiq process(es) running\n"
  end

  def rows
    reports = Report.order(:id).last(10).map do |report|
      "  ##{report.id} #{report.title.inspect} job_id=#{report.job_id} jid=#{report.provider_job_id}\n"
    end
    audits = AuditEntry.order(:id).last(10).map do |entry|
      "  ##{entry.id} #{entry.event.inspect} jid=#{entry.jid} request_id=#{entry.request_id}\n"
    end
    "Reports written by GenerateReportJob (perform_later): #{Report.count}\n#{reports.join}" \
      "Audit entries written by AuditJob (perform_async): #{AuditEntry.count}\n#{audits.join}"
  end

  def how_to_enqueue
    <<~TEXT
      Enqueue more, then run them with bin/sidekiq:
        curl -d title=Q2 #{request.base_url}/reports
        curl -d event=logout #{request.base_url}/audits
      Watch them in the Web UI: #{request.base_url}/sidekiq/ (user and password: see README.md)
    TEXT
  end
end
