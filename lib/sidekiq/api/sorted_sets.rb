# frozen_string_literal: true

require "sidekiq/api/bulk_move"

module Sidekiq
  # A Redis sorted set, by key.
  class SortedSet
    include Enumerable

    attr_reader :name

    def initialize(name)
      @name = name
      # Members this object took out of the set, less those it put back: what JobSet#each must
      # allow for to keep its place.
      @taken_out = 0
    end

    # The size right now (it changes as jobs come and go).
    def size
      Sidekiq.redis { |conn| conn.call("ZCARD", name) }
    end

    # Yields a SortedEntry for each member matching +match+, a glob (a plain string matches
    # anywhere in the payload). Without a block, an Enumerator.
    def scan(match, count = 100)
      return enum_for(__method__, match, count) unless block_given?

      Sidekiq.redis do |conn|
        Ferrokiq::Scan.sorted_set_pairs(conn, name, match: scan_pattern(match), count:) do |member, score|
          yield SortedEntry.new(self, score, member)
        end
      end
    end

    # @api private
    # One page of what #scan finds, for the Web UI's filter: [total, [[member, score], ...]], how
    # many members match and those at +first+ ... +first+ + +count+ in the set's order (highest
    # score first when +reverse+). The scan runs in Rust, which keeps only the page; nil on a
    # connection that is not Ferrokiq's.
    def scan_page(match, first, count, reverse: false)
      Sidekiq.redis do |conn|
        next unless conn.respond_to?(:native)

        conn.native.filtered_page(name, scan_pattern(match), reverse, first, count)
      end
    end

    def clear
      Sidekiq.redis { |conn| conn.call("UNLINK", name) }
      true
    end
    alias 💣 clear # rubocop:disable Naming/AsciiIdentifiers -- Sidekiq's public name

    # @api private
    def as_json(_options = nil)
      { name: }
    end

    private

    # A plain string matches anywhere in the payload; a glob is used as it is.
    def scan_pattern(match)
      match.include?("*") ? match : "*#{match}*"
    end
  end

  # A sorted set of jobs scored by a time: ScheduledSet, RetrySet, DeadSet.
  class JobSet < SortedSet
    PAGE_SIZE = 50

    # The payload to push for a manual retry: the retry the job is about to get is not one of
    # its counted attempts.
    def self.manual_retry(member)
      job = Sidekiq.load_json(member)
      job["retry_count"] -= 1 if job["retry_count"].is_a?(Integer)
      job
    end

    # Adds +job+ (a Hash) with +timestamp+ (a Time or epoch seconds) as its score.
    def schedule(timestamp, job)
      score = Ferrokiq::Timestamp.score(timestamp)
      Sidekiq.redis { |conn| conn.call("ZADD", name, score.to_s, Sidekiq.dump_json(job)) }
    end

    # Yields each entry, highest score (latest) first, in pages from the end of the set. Entries
    # the block removes through this object are allowed for, so none of the others is skipped.
    def each
      return to_enum(:each) unless block_given?

      taken_before = @taken_out
      Ferrokiq::Paging.each(from: :tail, page_size: PAGE_SIZE,
                            read: ->(first, last) { members_with_scores(first, last) },
                            removed: -> { @taken_out - taken_before }) do |member, score|
        yield SortedEntry.new(self, score, member)
      end
    end

    # The entries with this score (a Time or epoch seconds) or in this Range of scores; only the
    # one with +jid+ when given.
    def fetch(score, jid = nil)
      low, high = score_bounds(score)
      elements = Sidekiq.redis { |conn| conn.call("ZRANGE", name, low, high, "BYSCORE", "WITHSCORES") }
      entries = elements.map { |member, member_score| SortedEntry.new(self, member_score, member) }
      jid ? entries.select { |entry| entry.jid == jid } : entries
    end

    # The entry for +jid+, or nil. The scan runs in Rust; only the match comes back to Ruby.
    def find_job(jid)
      found = Sidekiq.redis { |conn| Ferrokiq::Scan.find_in_sorted_set(conn, name, jid) }
      found && SortedEntry.new(self, found[1], found[0])
    end

    # Pushes every job to its queue (not counted as a retry), oldest first. In batches moved
    # by Redis when the client would store the jobs as they are (Sidekiq::BulkMove).
    def retry_all
      push_all(manual_retry: true)
    end

    # @api private
    # Pushes every job to its queue as it is (the Web UI's Add all to queue), oldest first.
    def add_all_to_queue
      push_all(manual_retry: false)
    end

    # Moves every job to the dead set, then trims it once. If a move fails, that job is back in
    # this set and its error propagates (the dead set is still trimmed, as far as Redis lets).
    # Without death handlers to notify, batches are moved by Redis (Sidekiq::BulkMove).
    def kill_all(notify_failure: false, ex: nil) # rubocop:disable Naming/MethodParameterName -- Sidekiq's keyword
      morgue = DeadSet.new
      moved = begin
        (bulk_to_dead unless notify_failure) ||
          pop_each { |member, _score| morgue.kill(member, notify_failure:, ex:, trim: false) }
      rescue Exception # rubocop:disable Lint/RescueException -- trim, then let any error through
        reporting_failure("Could not trim the dead set after kill_all of #{name} failed") { morgue.trim }
        raise
      end
      morgue.trim
      moved
    end

    # @api private
    # Pushes every job to its queue, lowest score first: in batches by Redis when it can
    # (members that are not jobs stay behind), else, or for what stayed, one by one through
    # the client, whose errors (an unreadable payload included) propagate with the job put back.
    def push_all(manual_retry:)
      moved, unreadable = BulkMove.to_queues(self, manual_retry:)
      @taken_out += moved.to_i
      return moved if moved && unreadable.zero?

      client = Sidekiq::Client.new
      job = manual_retry ? JobSet.method(:manual_retry) : Sidekiq.method(:load_json)
      moved.to_i + pop_each { |member, _score| client.push(job.call(member)) }
    end

    # @api private
    def bulk_to_dead
      BulkMove.to_dead(self)&.tap { |moved| @taken_out += moved }
    end

    # @api private
    # Takes members out lowest score first, at most as many as the set holds now (so jobs that
    # come back meanwhile are not taken again), and yields each with its score.
    # Returns how many it took.
    def pop_each
      taken = 0
      size.times do
        member, score = Sidekiq.redis { |conn| conn.call("ZPOPMIN", name, 1) }.first
        break if member.nil?

        @taken_out += 1
        taken += 1
        while_out(member, score) { yield member, score }
      end
      taken
    end

    # @api private
    # Runs the block for +member+, which the caller has just taken out of this set: if the block
    # fails, the member goes back with its +score+ and the block's error propagates.
    def while_out(member, score)
      yield
    rescue Exception # rubocop:disable Lint/RescueException -- interrupts must not lose the job either
      put_back(member, score)
      raise
    end

    # @api private
    def delete_by_value(key, member)
      removed = Sidekiq.redis { |conn| conn.call("ZREM", key, member) }
      @taken_out += removed
      removed
    end

    # @api private
    # Removes the job with +jid+ among those scored +score+; returns how many were removed.
    def delete_by_jid(score, jid)
      member = member_with_jid(score, jid)
      member ? delete_by_value(name, member) : 0
    end
    alias delete delete_by_jid

    # @api private
    # The member, as stored, of the job with +jid+ among those scored +score+, or nil.
    def member_with_jid(score, jid)
      at_score = Sidekiq.redis { |conn| conn.call("ZRANGE", name, bound(score), bound(score), "BYSCORE") }
      at_score.find { |member| Ferrokiq::Scan.jid_of(member) == jid }
    end

    private

    def members_with_scores(first, last)
      Sidekiq.redis { |conn| conn.call("ZRANGE", name, first, last, "WITHSCORES") }
    end

    # When a job cannot go back, nothing else holds it any more: the report carries its payload
    # and score so that it can be put back by hand. The caller still sees the error that made
    # the job leave, not this one.
    def put_back(member, score)
      context = "Could not put a job back into the #{name} set: its payload is only in this report"
      reporting_failure(context, job: member, score: score.to_s) do
        @taken_out -= Sidekiq.redis { |conn| conn.call("ZADD", name, score.to_s, member) }
      end
    end

    # Clean-up on the way out of a failure must not replace that failure: its own error is
    # reported instead of raised.
    def reporting_failure(context, **details)
      yield
    rescue StandardError => e
      Sidekiq.default_configuration.handle_exception(e, { context:, **details })
      nil
    end

    def score_bounds(score)
      return [bound(score), bound(score)] unless score.is_a?(Range)

      low = score.begin.nil? ? "-inf" : bound(score.begin)
      high = score.end.nil? ? "+inf" : bound(score.end)
      high = "(#{high}" if score.exclude_end? && !score.end.nil?
      [low, high]
    end

    def bound(value)
      value.is_a?(String) ? value : Ferrokiq::Timestamp.score(value).to_s
    end
  end

  # Jobs pushed with a time to run (`perform_in`, `perform_at`).
  class ScheduledSet < JobSet
    def initialize
      super("schedule")
    end
  end

  # Failed jobs waiting for their next attempt.
  class RetrySet < JobSet
    def initialize
      super("retry")
    end
  end

  # Jobs that ran out of retries (or were killed), kept for `dead_timeout_in_seconds` and at most
  # `dead_max_jobs` of them.
  class DeadSet < JobSet
    def initialize
      super("dead")
    end

    # Drops entries older than the timeout and all but the newest `dead_max_jobs - 1`, with the
    # commands the server's morgue uses.
    def trim
      config = Sidekiq.default_configuration
      cutoff = Time.now.to_f - config[:dead_timeout_in_seconds]
      Sidekiq.redis do |conn|
        conn.multi do |transaction|
          transaction.call("ZREMRANGEBYSCORE", name, "-inf", "(#{cutoff}")
          transaction.call("ZREMRANGEBYRANK", name, 0, -config[:dead_max_jobs])
        end
      end
    end

    # Adds a job (its JSON, or a Hash) to the dead set, trimmed as the server trims it unless
    # `trim: false`. The death handlers get the job and `ex:` (by default "Job killed by API")
    # unless `notify_failure: false`.
    def kill(message, opts = {})
      message = Sidekiq.dump_json(message) if message.is_a?(Hash)
      raise ArgumentError, "DeadSet#kill needs a job's JSON or Hash, got #{message.class}" unless message.is_a?(String)

      job = Sidekiq.load_json(message) unless opts[:notify_failure] == false
      # Not counted for JobSet#each: a new entry usually lands in the part a walk from the end
      # has passed (so it yields one entry twice), but one trimmed at once, or scored below
      # entries from a host whose clock runs ahead, does not, and counting it would skip one.
      add(message, trim: opts[:trim] != false)
      notify_death_handlers(job, opts[:ex]) if job
      true
    end

    private

    # The server's morgue path adds and trims in one MULTI; other connections get the same
    # commands from here.
    def add(message, trim:)
      config = Sidekiq.default_configuration
      added_and_trimmed = Sidekiq.redis do |conn|
        next false unless trim && conn.respond_to?(:native)

        conn.native.send_to_morgue(message, config[:dead_max_jobs], config[:dead_timeout_in_seconds], Time.now.to_f)
      end
      return if added_and_trimmed

      Sidekiq.redis { |conn| conn.call("ZADD", name, Time.now.to_f.to_s, message) }
      self.trim if trim
    end

    def notify_death_handlers(job, exception)
      unless exception
        exception = RuntimeError.new("Job killed by API")
        exception.set_backtrace(caller)
      end
      config = Sidekiq.default_configuration
      config.death_handlers.each do |handler|
        handler.call(job, exception)
      rescue StandardError => e
        # The job is in the dead set already; a failing handler must not undo or repeat that.
        config.handle_exception(e, { context: "Error calling death handler", job: })
      end
    end
  end
end
