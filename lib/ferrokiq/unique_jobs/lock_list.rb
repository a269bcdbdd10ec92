# frozen_string_literal: true

require "ferrokiq/unique_jobs/scripts"

module Ferrokiq
  module UniqueJobs
    # The locks as the Web UI's "Locks" page lists them: the `uniquejobs:digests` set a page at a
    # time, newest first, then a plugin process's until_expired digests
    # (`uniquejobs:expiring_digests`), each digest with its holders, TTL, and what its `:INFO`
    # record says; and their deletion through the reaper's script, so the sets and the lock keys
    # stay in step (docs/design.md, §24).
    module LockList
      PAGE = 1000
      # Above every score: the reaper's script removes a lock only when its age is past the
      # cutoff, and a deletion asked for by hand removes it whatever its age.
      ANY_AGE = Float::MAX.to_s
      # The plugin's until_expired digests, scored when they expire (as the plugin computes it).
      EXPIRING = "uniquejobs:expiring_digests"
      # Listed in this order, each newest first.
      SETS = [Scripts::DIGESTS, EXPIRING].freeze

      # One lock. +holders+: jid => Time it was taken; +ttl+: seconds left (nil: never expires,
      # or already gone); +info+: its `:INFO` record (written with lock_info), whose type and
      # worker give +type+ and +job_class+; +runtime+: a `:RUN` lock, held around perform
      # (while_executing, until_and_while_executing); +expiring+: listed in the plugin's
      # expiring digests rather than the digests set.
      Lock = Struct.new(:digest, :score, :holders, :ttl, :type, :job_class, :runtime, :expiring, :info,
                        keyword_init: true)

      module_function

      # [total, [[digest, score, set], ...]]: the +count+ digests from +first+ of the digests set
      # followed by the expiring digests, each highest score (the most recent) first; with
      # +filter+, only digests containing it (a glob when it has `*`), matched inside Redis by the
      # Web UI's filter (Sidekiq::SortedSet#scan_page).
      def page(first, count, filter: nil)
        total = 0
        entries = SETS.flat_map do |set|
          size, members = set_page(set, [first - total, 0].max, count, filter)
          total += size
          count -= members.size
          members.map { |digest, score| [digest, Float(score), set] }
        end
        [total, entries]
      end

      # [size, [[digest, score], ...]] of one set's page (its size alone when +count+ is 0).
      def set_page(set, first, count, filter)
        return filtered(set, filter, first, count) if filter

        size, members = Sidekiq.redis do |conn|
          conn.multi do |tx|
            tx.call("ZCARD", set)
            tx.call("ZRANGE", set, first, first + count - 1, "REV", "WITHSCORES") if count.positive?
          end
        end
        [size, members || []]
      end

      # The Lock of each [digest, score, set], read in one round trip.
      def details(entries)
        replies = Sidekiq.redis do |conn|
          conn.pipelined do |pipe|
            entries.each do |digest, _|
              pipe.call("HGETALL", "#{digest}:LOCKED")
              pipe.call("PTTL", "#{digest}:LOCKED")
              pipe.call("GET", "#{digest}:INFO")
            end
          end
        end
        entries.zip(replies.each_slice(3)).map { |(digest, score, set), reply| lock(digest, score, set, *reply) }
      end

      # The lock named +digest+, or nil when it is in neither set.
      def find(digest)
        scores = Sidekiq.redis do |conn|
          conn.pipelined { |pipe| SETS.each { |set| pipe.call("ZSCORE", set, digest) } }
        end
        set, score = SETS.zip(scores).find { |_, found| found }
        score && details([[digest, Float(score), set]]).first
      end

      # Removes the lock and its digest as the reaper does (its script: every holder read here,
      # then the keys and the sets' entries once none is left). A job that takes the lock
      # between the read and the script keeps it. Returns how many holders went.
      def delete(digest)
        Sidekiq.redis do |conn|
          holders = conn.call("HKEYS", "#{digest}:LOCKED")
          Scripts.run(conn, :reap, digest, [*holders, ANY_AGE], after: [EXPIRING]).to_i
        end
      end

      # Deletes every lock of both sets, a page of digests at a time (one pipelined round trip
      # for their holders, one for the scripts). Returns how many digests went.
      def delete_all
        Sidekiq.redis { |conn| conn.call("SCRIPT", "LOAD", Scripts::REAP) }
        SETS.sum do |set|
          deleted = 0
          loop do
            digests = Sidekiq.redis { |conn| conn.call("ZRANGE", set, 0, PAGE - 1) }
            gone = delete_batch(digests, set)
            deleted += gone
            # A page where nothing went is held by jobs locking anew: stop rather than spin.
            break if digests.size < PAGE || gone.zero?
          end
          deleted
        end
      end

      def delete_batch(digests, set)
        return 0 if digests.empty?

        Sidekiq.redis do |conn|
          holders = conn.pipelined { |pipe| digests.each { |digest| pipe.call("HKEYS", "#{digest}:LOCKED") } }
          conn.pipelined do |pipe|
            digests.zip(holders).each do |digest, jids|
              keys = Scripts.keys(digest) << EXPIRING
              pipe.call("EVALSHA", Scripts::SHAS.fetch(:reap), keys.size, *keys, *jids, ANY_AGE)
            end
          end
          conn.call("ZMSCORE", set, *digests).count(&:nil?)
        end
      end

      def filtered(set, filter, first, count)
        found = Sidekiq::SortedSet.new(set).scan_page(filter, first, [count, 1].max, reverse: true) ||
                scanned(set, filter, first, count)
        count.positive? ? found : [found.first, []]
      end

      # Without Ferrokiq's native connection: ZSCAN … MATCH, the matches sorted here.
      def scanned(set, filter, first, count)
        pattern = filter.include?("*") ? filter : "*#{filter}*"
        found = Sidekiq.redis do |conn|
          conn.zscan(set, match: pattern, count: PAGE).map { |digest, score| [digest, Float(score)] }
        end
        [found.size, found.sort_by { |digest, score| [-score, digest] }[first, count] || []]
      end

      def lock(digest, score, set, holders, pttl, info)
        info = parse_info(info)
        Lock.new(digest:, score:, holders: holders.transform_values { |time| Time.at(time.to_f) },
                 ttl: pttl.to_i.positive? ? pttl.to_i / 1000.0 : nil, info:,
                 type: info["type"]&.to_s, job_class: info["worker"]&.to_s, runtime: digest.end_with?(":RUN"),
                 expiring: set == EXPIRING)
      end

      def parse_info(json)
        info = json && Sidekiq.load_json(json)
        info.is_a?(Hash) ? info : {}
      rescue JSON::ParserError
        {}
      end
    end
  end
end
