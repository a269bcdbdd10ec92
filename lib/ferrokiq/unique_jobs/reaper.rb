# frozen_string_literal: true

module Ferrokiq
  module UniqueJobs
    # Frees the locks of jobs that no longer exist anywhere: a process killed with -9 (or
    # OOM-killed) while running a job fetched by basic fetch loses the job, and its lock would
    # block the job's twin until the TTL ends. One process per interval does the work (the
    # plugin's `uniquejobs:reaper` mutex); a lock is orphaned when its age is past the grace
    # and its jid is in no queue, schedule, retry set, working list (reliable fetch recovers
    # those jobs, so their locks stay) or live process's work record (docs/design.md, §24).
    class Reaper
      MUTEX = "uniquejobs:reaper"
      PAGE = 1000
      # A jid in a payload, or in a work record's payload (JSON inside JSON, quotes escaped).
      JID = /\\?"jid\\?":\\?"([^"\\]+)/

      def initialize(config, settings = UniqueJobs.settings)
        @config = config
        @settings = settings
        @sleeper = Ferrokiq::Sleeper.new
      end

      # Runs until the process's :shutdown event.
      def start
        return self unless @settings.reaper?

        @config.on(:shutdown) { stop }
        @thread = Thread.new do
          Thread.current.name = "sidekiq.unique_reaper"
          loop do
            reap_safely
            break if @sleeper.sleep(@settings.reaper_interval.to_f)
          end
        end
        self
      end

      def stop
        @sleeper.wake
        @thread&.join(5)
      end

      # One pass, if this process wins the interval. Returns how many lock holders it removed.
      # With no lock in Redis it writes nothing (no mutex either): unused, the feature costs one
      # read per interval.
      def reap
        return 0 unless locks? && claim_interval

        cutoff = Time.now.to_f - @settings.reaper_grace.to_f
        candidates = Sidekiq.redis do |conn|
          conn.call("ZRANGEBYSCORE", Scripts::DIGESTS, "-inf", cutoff, "LIMIT", 0, @settings.reaper_count)
        end
        return 0 if candidates.empty?

        holders = Sidekiq.redis do |conn|
          conn.pipelined { |pipe| candidates.each { |digest| pipe.call("HKEYS", "#{digest}:LOCKED") } }
        end
        alive = live_jids
        candidates.zip(holders).sum { |digest, jids| remove(digest, jids - alive.to_a, cutoff) }
      end

      private

      def reap_safely
        removed = reap
        @config.logger.info("Unique jobs reaper freed #{removed} orphaned lock(s)") if removed.positive?
      rescue StandardError => e
        @config.handle_exception(e, { context: "Unique jobs reaper" })
      end

      def locks?
        Sidekiq.redis { |conn| conn.call("EXISTS", Scripts::DIGESTS) } == 1
      end

      # SET NX with an expiry a little shorter than the interval: the winner's next turn finds
      # the key gone, and no other process reaps within the same interval.
      def claim_interval
        ms = [(@settings.reaper_interval.to_f * 900).to_i, 100].max
        Sidekiq.redis { |conn| conn.call("SET", MUTEX, Sidekiq::Component.identity, "NX", "PX", ms) } == "OK"
      end

      def remove(digest, dead_jids, cutoff)
        # A digest whose :LOCKED hash is gone (its TTL ended) leaves only its entry behind.
        return 0 if dead_jids.empty? && Sidekiq.redis { |conn| conn.call("EXISTS", "#{digest}:LOCKED") } == 1

        Sidekiq.redis { |conn| Scripts.run(conn, :reap, digest, [*dead_jids, cutoff]) }.to_i
      end

      # Every jid a job can be found under, walked in the order jobs move (schedule and retry,
      # queues, working lists, work records), so a job that moves on while the walk runs is
      # still seen at the later place; retry and schedule are read again last for the jobs a
      # failure sends back.
      def live_jids
        jids = Set.new
        Sidekiq.redis do |conn|
          sorted_sets(conn, jids)
          conn.call("SMEMBERS", "queues").each { |queue| list(conn, "queue:#{queue}", jids) }
          conn.call("HKEYS", "ferrokiq:working").each { |working| list(conn, working, jids) }
          work_records(conn, jids)
          sorted_sets(conn, jids)
        end
        jids
      end

      def sorted_sets(conn, jids)
        %w[schedule retry].each { |set| paged(jids) { |first| conn.call("ZRANGE", set, first, first + PAGE - 1) } }
      end

      def list(conn, key, jids)
        paged(jids) { |first| conn.call("LRANGE", key, first, first + PAGE - 1) }
      end

      # Only processes whose heartbeat key still exists count: a killed process's records stay
      # behind until it is pruned.
      def work_records(conn, jids)
        conn.call("SMEMBERS", "processes").each do |identity|
          next unless conn.call("EXISTS", identity) == 1

          conn.call("HVALS", "#{identity}:work").each { |record| collect(record, jids) }
        end
      end

      def paged(jids)
        first = 0
        loop do
          page = yield first
          page.each { |payload| collect(payload, jids) }
          break if page.size < PAGE

          first += PAGE
        end
      end

      def collect(text, jids)
        text.scan(JID) { |(jid)| jids << jid }
      end
    end
  end
end
