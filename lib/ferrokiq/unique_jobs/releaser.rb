# frozen_string_literal: true

module Ferrokiq
  module UniqueJobs
    # Releases until_executed locks after their jobs succeeded without making the worker thread
    # wait: a background thread sends them in pipelined batches, one round trip per batch, as
    # the engine does with acknowledgements (docs/design.md, §24). A waiting release costs a
    # worker thread a round trip and a GVL hand-over per job, which at short jobs cut the drain
    # rate several times over. A lock is released milliseconds after its job ends; if the
    # process dies first, the reaper frees it (its job is gone from every list).
    class Releaser
      BATCH = 500
      GATHER = 0.002
      RETRY_PAUSE = 1.0
      ATTEMPTS = 5

      def self.instance
        @instance = nil if @instance && !@instance.owned?
        @instance ||= new.tap { |releaser| at_exit { releaser.flush } }
      end

      def initialize
        @pid = Process.pid
        @pending = Thread::Queue.new
        @sending = false
        @thread = Thread.new do
          Thread.current.name = "sidekiq.unique_releaser"
          loop { send_batch(take_batch) }
        end
      end

      # Whether this object's thread belongs to this process (a fork has no such thread).
      def owned?
        @pid == Process.pid && @thread.alive?
      end

      # No lock of our own around the queue: a contended Mutex per job would hand the GVL around.
      def release(digest, jid)
        @pending << [digest, jid]
      end

      # Waits up to +timeout+ seconds for the releases asked for so far (at exit).
      def flush(timeout = 5)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        sleep 0.01 while (@sending || !@pending.empty?) && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      end

      private

      # After the first release, a short pause lets the others pile up: without it every job's
      # release would wake this thread and hand it the GVL, one switch per job.
      def take_batch
        batch = [@pending.pop]
        @sending = true
        sleep GATHER
        batch << @pending.pop(true) while batch.size < BATCH && !@pending.empty?
        batch
      end

      # Redis may be away for a while: the batch is tried again a few times, then given up to
      # the TTL and the reaper, and logged.
      def send_batch(batch)
        ATTEMPTS.times do |attempt|
          return release_batch(batch)
        rescue StandardError => e
          if attempt + 1 < ATTEMPTS
            sleep RETRY_PAUSE
          else
            UniqueJobs.settings.logger.warn("Could not release #{batch.size} unique job lock(s): #{e.message}")
          end
        end
      ensure
        @sending = false
      end

      # One script call for the whole batch (Scripts::RELEASE_MANY); EVAL once after NOSCRIPT.
      def release_batch(batch)
        argv = batch.flatten
        sha = Scripts::SHAS.fetch(:release_many)
        Sidekiq.redis do |conn|
          conn.call("EVALSHA", sha, 1, Scripts::DIGESTS, *argv)
        rescue StandardError => e
          raise unless e.message.include?("NOSCRIPT")

          conn.call("EVAL", Scripts::RELEASE_MANY, 1, Scripts::DIGESTS, *argv)
        end
      end
    end
  end
end
