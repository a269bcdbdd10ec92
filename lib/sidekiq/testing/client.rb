# frozen_string_literal: true

module Sidekiq
  # Prepended to Sidekiq::Client. Normalization, validation and client middleware run as
  # always; only the last step, handing the finished payloads to Redis, follows the mode.
  module TestingClient
    private

    def raw_push(payloads)
      case Testing.__test_mode
      when :fake then payloads.each { |payload| keep_in_memory(as_read_back(payload)) }
      when :inline then payloads.each { |payload| perform_now(as_read_back(payload)) }
      else return super
      end
      true
    end

    # The native bulk path writes to Redis without building payloads, so it is only for
    # pushes that are meant to reach Redis.
    def native_bulk?
      Testing.disabled? && super
    end

    # A job sees its payload as a server would read it back from Redis: through JSON, so
    # Symbols are Strings and the caller's objects are not shared.
    def as_read_back(payload)
      Sidekiq.load_json(Sidekiq.dump_json(payload))
    end

    # Redis would have stamped enqueued_at on a job pushed to a queue; a scheduled job gets
    # it only when it is moved to its queue later, so it keeps `at` and goes without.
    def keep_in_memory(job)
      job["enqueued_at"] = Time.now.to_f unless job["at"]
      Testing.job_store.add(job)
    end

    # Scheduled jobs run now too; errors reach the caller and nothing is retried. A payload
    # handed to raw_push directly may lack a jid; the job still gets one.
    def perform_now(job)
      job["jid"] ||= Ferrokiq::Native.jid
      Testing.constantize(job["class"]).process_job(job)
    end
  end
end

Sidekiq::Client.prepend(Sidekiq::TestingClient)
