# frozen_string_literal: true

module Sidekiq
  # A Redis sorted set, by key.
  class SortedSet
    include Enumerable

    attr_reader :name

    def initialize(name)
      @name = name
      @_size = size
    end

    # The size right now (it changes as jobs come and go).
    def size
      Sidekiq.redis { |conn| conn.call("ZCARD", name) }
    end

    # Yields a SortedEntry for each member matching +match+ (a glob; `*match*` when it has no
    # `*`). Without a block, an Enumerator.
    def scan(match, count = 100)
      return to_enum(:scan, match, count) unless block_given?

      match = "*#{match}*" unless match.include?("*")
      Sidekiq.redis do |conn|
        Ferrokiq::Scan.sorted_set_pairs(conn, name, match:, count:) do |member, score|
          yield SortedEntry.new(self, score, member)
        end
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
  end

  # A sorted set of jobs scored by a time: ScheduledSet, RetrySet, DeadSet.
  class JobSet < SortedSet
    PAGE_SIZE = 50

    # Adds +job+ (a Hash) with +timestamp+ (a Time or epoch seconds) as its score.
    def schedule(timestamp, job)
      score = Ferrokiq::Timestamp.score(timestamp)
      Sidekiq.redis { |conn| conn.call("ZADD", name, score.to_s, Sidekiq.dump_json(job)) }
    end

    # Yields each entry, highest score (latest) first, in pages from the end of the set.
    def each
      return to_enum(:each) unless block_given?

      initial_size = @_size
      page = -1
      loop do
        start = (page * PAGE_SIZE) + (initial_size - @_size)
        elements = Sidekiq.redis { |conn| conn.call("ZRANGE", name, start, start + PAGE_SIZE - 1, "WITHSCORES") }
        break if elements.empty?

        page -= 1
        elements.reverse_each { |member, score| yield SortedEntry.new(self, score, member) }
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

    # Pushes every job to its queue (not counted as a retry), oldest first.
    def retry_all
      client = Sidekiq::Client.new
      pop_each do |message, _|
        job = Sidekiq.load_json(message)
        job["retry_count"] -= 1 if job["retry_count"].is_a?(Integer)
        client.push(job)
      end
    end

    # Moves every job to the dead set, then trims it once.
    def kill_all(notify_failure: false, ex: nil) # rubocop:disable Naming/MethodParameterName -- Sidekiq's keyword
      dead = DeadSet.new
      pop_each { |message, _| dead.kill(message, notify_failure:, ex:, trim: false) }
    ensure
      dead&.trim
    end

    # @api private
    # Pops members lowest score first, as many as the set held at the start. A member whose
    # handling fails goes back to the set before the error propagates.
    def pop_each
      Sidekiq.redis do |conn|
        size.times do
          message, score = conn.call("ZPOPMIN", name, 1)&.first
          break unless message

          begin
            yield message, score
          rescue Exception # rubocop:disable Lint/RescueException
            restore(score, message)
            raise
          end
        end
      end
    end

    # @api private
    def delete_by_value(name, value)
      removed = Sidekiq.redis { |conn| conn.call("ZREM", name, value) }
      @_size -= removed
      removed
    end

    # @api private
    # Removes the job with +jid+ among those scored +score+; returns how many were removed.
    def delete_by_jid(score, jid)
      member = Sidekiq.redis { |conn| conn.call("ZRANGE", name, score, score, "BYSCORE") }
                      .find { |element| Ferrokiq::Scan.jid_of(element) == jid }
      member ? delete_by_value(name, member) : 0
    end
    alias delete delete_by_jid

    # @api private
    # Takes the job with +jid+ out of the members scored +score+ and returns its payload (or
    # nil). Sidekiq's way, for entries built without their stored bytes: the whole score is taken
    # atomically and the other jobs are put back.
    def take_by_jid(score, jid)
      Sidekiq.redis do |conn|
        members, = conn.multi do |transaction|
          transaction.call("ZRANGE", name, score, score, "BYSCORE")
          transaction.call("ZREMRANGEBYSCORE", name, score, score)
        end
        matched = members.find { |member| Ferrokiq::Scan.jid_of(member) == jid }
        others = members - [matched]
        conn.call("ZADD", name, *others.flat_map { |member| [score.to_f.to_s, member] }) unless others.empty?
        @_size -= 1 if matched
        matched
      end
    end

    # @api private
    # Puts a member taken out of the set back, with its score.
    def restore(score, message)
      Sidekiq.redis { |conn| conn.call("ZADD", name, score.to_f.to_s, message) }
      @_size += 1
    end

    private

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
      add(message, trim: opts[:trim] != false)
      @_size += 1
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

        conn.native.send_to_morgue(message, config[:dead_max_jobs], config[:dead_timeout_in_seconds])
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
