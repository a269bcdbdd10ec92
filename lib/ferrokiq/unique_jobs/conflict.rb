# frozen_string_literal: true

module Ferrokiq
  module UniqueJobs
    # Raised by the :raise strategy: on the client it reaches the caller of perform_async; on
    # the server the retry handler retries the job.
    class Conflict < Ferrokiq::Error
      attr_reader :item

      def initialize(item)
        @item = item
        super("Job #{item["jid"]} not enqueued or run: lock #{item["lock_digest"]} is held by another job")
      end
    end

    # What happens to a job that finds its lock held (`on_conflict`), with the plugin's
    # strategies: none (dropped without a word), :log, :raise, :reject (to the dead set),
    # :replace (client: the waiting job makes way for this one) and :reschedule (server: run
    # again in `schedule_in` seconds, 5 by default).
    module ConflictStrategy
      module_function

      # On push. Returns true when the caller should try to lock once more (:replace).
      def on_client(request, pool)
        case request.strategy(:client)
        when :log then log_skip(request)
        when :raise then raise Conflict, request.item
        when :reject then reject(request)
        when :replace then return replace(request, pool)
        when :reschedule
          # Rescheduling at push would meet the same lock again; the plugin recurses there.
          log_skip(request, "(:reschedule acts on the server only)")
        end
        false
      end

      # At execution, for a runtime lock (or a lost until_executed lock) held by another job.
      def on_server(request)
        case request.strategy(:server)
        when :log, :replace then log_skip(request)
        when :raise then raise Conflict, request.item
        when :reject then reject(request)
        when :reschedule then reschedule(request)
        end
      end

      def log_skip(request, why = nil)
        log_line(request.jid, request.digest, why)
      end

      # A job of a bulk push written in Rust (ClientLocks.push_bulk), refused: +request+ is its
      # template's, +jid+ and +digest+ its own. Only :log says anything.
      def log_refused(request, jid, digest)
        log_line(jid, digest) if request.strategy(:client) == :log
      end

      def log_line(jid, digest, why = nil)
        return unless UniqueJobs.settings.logger_enabled

        UniqueJobs.settings.logger.info(
          "Skipping job with id (#{jid}) because lock_digest: (#{digest}) already exists #{why}".rstrip
        )
      end

      def reject(request)
        require "sidekiq/api"
        UniqueJobs.settings.logger.info("Adding dead #{request.item["class"]} job #{request.jid}")
        Sidekiq::DeadSet.new.kill(Sidekiq.dump_json(request.item), notify_failure: false)
      end

      def replace(request, pool)
        queue = "queue:#{request.item["queue"]}"
        deleted = pool.with do |conn|
          Scripts.run(conn, :delete_waiting, request.digest, [request.digest], before: [queue, "schedule", "retry"])
        end
        deleted.to_i.positive?
      end

      def reschedule(request)
        klass = request.job_class
        item = request.item
        seconds = item["schedule_in"] || klass&.get_sidekiq_options&.fetch("schedule_in", nil) || 5
        copy = item.except("jid", "enqueued_at", "created_at", "lock_digest", "lock_args", "error_message",
                           "error_class", "failed_at", "retry_count", "retried_at", "backtrace")
        Sidekiq::Client.push(copy.merge("at" => Time.now.to_f + seconds.to_f, "rescheduled" => true))
      end
    end
  end
end
