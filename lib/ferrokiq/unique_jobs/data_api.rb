# frozen_string_literal: true

module Ferrokiq
  module UniqueJobs
    # A job deleted through the Data API (or the Web UI, which uses it) gives back the lock it
    # took at push, as sidekiq-unique-jobs' extensions of these classes do; unlike them, only
    # the deleted job's own hold goes, never another job's (docs/design.md, §24). Moves that keep
    # the job (retry now, kill, add to queue) re-take the same jid's lock and are left alone.
    module DataApi
      PAGE = 1000

      module_function

      # +payloads+: the deleted jobs, as stored (JSON) or as Hashes. A job without the plugin's
      # fields may have taken its lock on the server (ServerLocks.take_late): its digest is
      # computed again.
      def release(payloads)
        holds = payloads.filter_map do |payload|
          next unless payload.is_a?(Hash) || payload.include?('"lock')

          item = payload.is_a?(Hash) ? payload : Sidekiq.load_json(payload)
          hold_of(item) if item.is_a?(Hash)
        end
        return if holds.empty?

        Sidekiq.redis { |conn| Scripts.release(conn, holds) }
      end

      # [digest, jid] of the push lock +item+ asked for, or nil.
      def hold_of(item)
        return unless item["jid"]
        return [item["lock_digest"], item["jid"]] if item["lock_digest"]

        type = LockRequest.type_of(item)
        [LockRequest.new(item, type).digest, item["jid"]] if type
      end

      # Before a whole list or set goes: its jobs' locks, page by page, but only when any lock
      # exists at all, so clearing costs nothing more in an app without unique jobs.
      def release_all_in(key, list:)
        return if Sidekiq.redis { |conn| conn.call("EXISTS", Scripts::DIGESTS) }.zero?

        first = 0
        loop do
          page = Sidekiq.redis { |conn| conn.call(list ? "LRANGE" : "ZRANGE", key, first, first + PAGE - 1) }
          release(page)
          break if page.size < PAGE

          first += PAGE
        end
      end

      # Sidekiq::JobRecord#delete (a job in a queue).
      module JobRecordDelete
        def delete
          super.tap { |removed| DataApi.release([item]) if removed }
        end
      end

      # Sidekiq::SortedEntry#delete (a scheduled, retry or dead job).
      module SortedEntryDelete
        def delete
          super.tap { |removed| DataApi.release([item]) if removed.to_i.positive? }
        end
      end

      # Sidekiq::JobSet#delete / #delete_by_jid, and #clear.
      module JobSetDeletes
        def delete_by_jid(score, jid)
          member = member_with_jid(score, jid)
          super.tap { |removed| DataApi.release([member]) if member && removed.to_i.positive? }
        end

        def delete(score, jid)
          delete_by_jid(score, jid)
        end

        def clear
          DataApi.release_all_in(name, list: false)
          super
        end
      end

      # Sidekiq::Queue#clear.
      module QueueClear
        def clear
          DataApi.release_all_in("queue:#{name}", list: true)
          super
        end
      end

      def install
        Sidekiq::JobRecord.prepend(JobRecordDelete)
        Sidekiq::SortedEntry.prepend(SortedEntryDelete)
        Sidekiq::JobSet.prepend(JobSetDeletes)
        Sidekiq::Queue.prepend(QueueClear)
      end
    end
  end
end
