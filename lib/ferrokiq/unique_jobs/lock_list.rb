# frozen_string_literal: true

require "ferrokiq/unique_jobs/scripts"

module Ferrokiq
  module UniqueJobs
    # The locks as the Web UI's "Locks" page lists them: the `uniquejobs:digests` set a page at a
    # time, newest first, each digest with its holders, TTL and type when known; and their
    # deletion through the reaper's script, so the set and the lock keys stay in step
    # (docs/design.md, §24).
    module LockList
      PAGE = 1000
      # Above every score: the reaper's script removes a lock only when its age is past the
      # cutoff, and a deletion asked for by hand removes it whatever its age.
      ANY_AGE = Float::MAX.to_s

      # One lock. +holders+: jid => Time it was taken; +ttl+: seconds left (nil: never expires,
      # or already gone); +type+ and +job_class+: from the plugin's `:INFO` record when a Ruby
      # process running the plugin wrote one (Ferrokiq does not); +runtime+: a `:RUN` lock, held
      # around perform (while_executing, until_and_while_executing).
      Lock = Struct.new(:digest, :score, :holders, :ttl, :type, :job_class, :runtime, keyword_init: true)

      module_function

      # [total, [[digest, score], ...]]: the +count+ digests from +first+, highest score (the
      # most recent) first; with +filter+, only digests containing it (a glob when it has `*`),
      # matched inside Redis by the Web UI's filter (Sidekiq::SortedSet#scan_page).
      def page(first, count, filter: nil)
        return filtered(filter, first, count) if filter

        Sidekiq.redis do |conn|
          conn.multi do |tx|
            tx.call("ZCARD", Scripts::DIGESTS)
            tx.call("ZRANGE", Scripts::DIGESTS, first, first + count - 1, "REV", "WITHSCORES")
          end
        end => [total, members]
        [total, members.map { |digest, score| [digest, Float(score)] }]
      end

      # The Lock of each [digest, score], read in one round trip.
      def details(pairs)
        replies = Sidekiq.redis do |conn|
          conn.pipelined do |pipe|
            pairs.each do |digest, _|
              pipe.call("HGETALL", "#{digest}:LOCKED")
              pipe.call("PTTL", "#{digest}:LOCKED")
              pipe.call("GET", "#{digest}:INFO")
            end
          end
        end
        pairs.zip(replies.each_slice(3)).map { |(digest, score), reply| lock(digest, score, *reply) }
      end

      # The lock named +digest+, or nil when it is not in the digests set.
      def find(digest)
        score = Sidekiq.redis { |conn| conn.call("ZSCORE", Scripts::DIGESTS, digest) }
        score && details([[digest, Float(score)]]).first
      end

      # Removes the lock and its digest as the reaper does (its script: every holder read here,
      # then the keys and the set entry once none is left). A job that takes the lock between
      # the read and the script keeps it. Returns how many holders went.
      def delete(digest)
        Sidekiq.redis do |conn|
          holders = conn.call("HKEYS", "#{digest}:LOCKED")
          Scripts.run(conn, :reap, digest, [*holders, ANY_AGE]).to_i
        end
      end

      # Deletes every lock, a page of digests at a time (one pipelined round trip for their
      # holders, one for the scripts). Returns how many digests went.
      def delete_all
        Sidekiq.redis { |conn| conn.call("SCRIPT", "LOAD", Scripts::REAP) }
        deleted = 0
        loop do
          digests = Sidekiq.redis { |conn| conn.call("ZRANGE", Scripts::DIGESTS, 0, PAGE - 1) }
          gone = delete_batch(digests)
          deleted += gone
          # A page where nothing went is held by jobs locking anew: stop rather than spin.
          break if digests.size < PAGE || gone.zero?
        end
        deleted
      end

      def delete_batch(digests)
        return 0 if digests.empty?

        Sidekiq.redis do |conn|
          holders = conn.pipelined { |pipe| digests.each { |digest| pipe.call("HKEYS", "#{digest}:LOCKED") } }
          conn.pipelined do |pipe|
            digests.zip(holders).each do |digest, jids|
              keys = Scripts.keys(digest)
              pipe.call("EVALSHA", Scripts::SHAS.fetch(:reap), keys.size, *keys, *jids, ANY_AGE)
            end
          end
          conn.call("ZMSCORE", Scripts::DIGESTS, *digests).count(&:nil?)
        end
      end

      def filtered(filter, first, count)
        set = Sidekiq::SortedSet.new(Scripts::DIGESTS)
        set.scan_page(filter, first, count, reverse: true) || scanned(filter, first, count)
      end

      # Without Ferrokiq's native connection: ZSCAN … MATCH, the matches sorted here.
      def scanned(filter, first, count)
        pattern = filter.include?("*") ? filter : "*#{filter}*"
        found = Sidekiq.redis do |conn|
          conn.zscan(Scripts::DIGESTS, match: pattern, count: PAGE).map { |digest, score| [digest, Float(score)] }
        end
        [found.size, found.sort_by { |digest, score| [-score, digest] }[first, count] || []]
      end

      def lock(digest, score, holders, pttl, info)
        info = parse_info(info)
        Lock.new(digest:, score:, holders: holders.transform_values { |time| Time.at(time.to_f) },
                 ttl: pttl.to_i.positive? ? pttl.to_i / 1000.0 : nil,
                 type: info["type"]&.to_s, job_class: info["worker"]&.to_s, runtime: digest.end_with?(":RUN"))
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
