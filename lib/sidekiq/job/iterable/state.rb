# frozen_string_literal: true

module Sidekiq
  module Job
    module Iterable
      # An iterable job's progress in Redis, the hash `it-<jid>` (docs/wire-format.md §1.7):
      #   ex         how many times the job has started iterating
      #   c          the cursor of the item to resume at, as JSON
      #   rt         seconds spent iterating over all runs, a Float
      #   cancelled  epoch seconds of the first cancellation, when there was one
      # Sidekiq 7.3 reads and writes the same fields, so a job interrupted on one resumes on the
      # other. Every access is one round trip through the Rust connection.
      module State
        # Longer than the default retries take (about three weeks): a job waiting for a retry
        # must not forget its cursor, nor that it was cancelled.
        TTL = 30 * 24 * 60 * 60

        module_function

        def key(jid)
          "it-#{jid}"
        end

        # The stored fields ({} for a job that never iterated).
        def read(jid)
          Sidekiq.redis { |conn| conn.hgetall(key(jid)) }
        end

        # Writes the progress and renews the TTL in one MULTI. Returns the cancellation time
        # (epoch seconds) when someone cancelled the job meanwhile, else nil.
        def write(jid, executions:, cursor:, runtime:)
          _, _, cancelled_at = Sidekiq.redis do |conn|
            conn.multi do |tx|
              tx.hset(key(jid), "ex", executions, "c", Sidekiq.dump_json(cursor), "rt", runtime)
              tx.expire(key(jid), TTL)
              tx.hget(key(jid), "cancelled")
            end
          end
          cancelled_at&.to_i
        end

        # Marks the job cancelled, unless it was already; returns the time of the first
        # cancellation. The running job notices at its next state flush.
        def cancel(conn, jid)
          _, cancelled_at, = conn.pipelined do |pipe|
            pipe.hsetnx(key(jid), "cancelled", Time.now.to_i)
            pipe.hget(key(jid), "cancelled")
            pipe.expire(key(jid), TTL)
          end
          cancelled_at.to_i
        end

        def delete(jid)
          Sidekiq.redis { |conn| conn.unlink(key(jid)) }
        end
      end
    end
  end
end
