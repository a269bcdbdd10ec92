# frozen_string_literal: true

module Sidekiq
  # Prepended to Sidekiq::Client. Normalization, validation and client middleware run as
  # always; only the last step, handing the finished payloads to Redis, follows the mode.
  module TestingClient
    private

    def raw_push(payloads)
      if Testing.fake?
        payloads.each { |payload| store_fake(payload) }
        true
      elsif Testing.inline?
        payloads.each { |payload| run_inline(payload) }
        true
      else
        super
      end
    end

    # The native bulk path writes to Redis without building payloads, so it is only for
    # pushes that are meant to reach Redis.
    def native_bulk?
      Testing.disabled? && super
    end

    # Stored as a server would read it back: through JSON, with enqueued_at when it was
    # not scheduled.
    def store_fake(payload)
      job = Sidekiq.load_json(Sidekiq.dump_json(payload))
      job["enqueued_at"] = Time.now.to_f unless job["at"]
      Queues.push(job["queue"], job["class"], job)
    end

    # Scheduled jobs run now too; errors reach the caller and nothing is retried.
    def run_inline(payload)
      klass = Testing.constantize(payload["class"])
      payload["jid"] ||= Ferrokiq::Native.jid
      klass.process_job(Sidekiq.load_json(Sidekiq.dump_json(payload)))
    end
  end
end

Sidekiq::Client.prepend(Sidekiq::TestingClient)
