# frozen_string_literal: true

module Sidekiq
  # @api private
  # The fast path of JobSet#retry_all, #kill_all and #add_all_to_queue: batches of a thousand
  # moved by one Lua script each, in Rust (Ferrokiq::Native::Redis#move_to_queues and
  # #move_to_dead; docs/web.md §6). A Redis failure between batches leaves every job
  # in exactly one place; no job is parsed in Ruby.
  #
  # Pushes skip the client (its middleware, `sidekiq/testing`'s fake queues), so they take this
  # path only when neither is in play: no client middleware configured and the test mode off.
  # Otherwise, and on a connection that is not Ferrokiq's, the callers keep their job-by-job
  # path through Sidekiq::Client. Each method returns nil when it does not apply.
  module BulkMove
    module_function

    # Pushes the jobs of +set+ to their queues, oldest first; with +manual_retry+, one lower
    # retry_count each (JobSet.manual_retry). Returns [moved, unreadable]: unreadable members
    # (not a JSON object) are left in the set for the caller's slow path to report.
    def to_queues(set, manual_retry:)
      Sidekiq.redis do |conn|
        next unless conn.respond_to?(:native) && plain_client?

        conn.native.move_to_queues(set.name, manual_retry, conn.call("ZCARD", set.name), Time.now.to_f)
      end
    end

    # Moves every member of +set+ to the dead set, scored now; the caller trims it. Returns how
    # many moved. Ruby's clock, for the scores and enqueued_at, as elsewhere in the API.
    def to_dead(set)
      Sidekiq.redis do |conn|
        next unless conn.respond_to?(:native)

        conn.native.move_to_dead(set.name, conn.call("ZCARD", set.name), Time.now.to_f)
      end
    end

    # Whether Sidekiq::Client#push would store the payload as it is, apart from enqueued_at.
    def plain_client?
      return false if defined?(Sidekiq::Testing) && Sidekiq::Testing.enabled?

      Sidekiq.default_configuration.client_middleware.empty?
    end
  end
end
