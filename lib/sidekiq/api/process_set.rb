# frozen_string_literal: true

module Sidekiq
  # The Sidekiq (and Ferrokiq) server processes that have sent a heartbeat in the last minute.
  class ProcessSet
    include Enumerable

    # Heartbeat hash fields read per process. `concurrency` is a field of its own from
    # Sidekiq 8.1.2 (no longer in `info`).
    FIELDS = %w[info busy beat quiet rss rtt_us concurrency].freeze
    CLEANUP_KEY = "process_cleanup"

    # The process with this identity, or nil.
    def self.[](identity)
      member, fields = Sidekiq.redis do |conn|
        conn.multi do |transaction|
          transaction.call("SISMEMBER", "processes", identity)
          transaction.call("HMGET", identity, *FIELDS)
        end
      end
      return if member.zero? || fields.first.nil?

      process_from(fields)
    end

    # @api private
    def self.process_from(fields)
      info, busy, beat, quiet, rss, rtt_us, concurrency = fields
      hash = Sidekiq.load_json(info)
      hash["concurrency"] ||= concurrency.to_i if concurrency
      Process.new(hash.merge("busy" => busy.to_i, "beat" => beat.to_f, "quiet" => quiet, "rss" => rss.to_i,
                             "rtt_us" => rtt_us.to_i))
    end

    def initialize(clean_plz = true) # rubocop:disable Style/OptionalBooleanParameter
      cleanup if clean_plz
    end

    # Forgets processes whose heartbeat hash has expired (they died without a clean exit).
    # Runs at most once a minute across all callers; returns how many were removed.
    def cleanup
      Sidekiq.redis do |conn|
        next 0 unless conn.call("SET", CLEANUP_KEY, "1", "NX", "EX", 60)

        identities = Ferrokiq::Scan.set_members(conn, "processes")
        infos = conn.pipelined { |pipe| identities.each { |identity| pipe.call("HGET", identity, "info") } }
        gone = identities.zip(infos).filter_map { |identity, info| identity if info.nil? }
        gone.empty? ? 0 : conn.call("SREM", "processes", *gone)
      end
    end

    # Yields each live Process, by identity.
    def each
      return to_enum(:each) unless block_given?

      replies = Sidekiq.redis do |conn|
        identities = Ferrokiq::Scan.set_members(conn, "processes").sort
        conn.pipelined { |pipe| identities.each { |identity| pipe.call("HMGET", identity, *FIELDS) } }
      end
      # A process that stopped between the two commands answers with nils.
      replies.each { |fields| yield self.class.process_from(fields) unless fields.first.nil? }
    end

    # Members of `processes`, live or not yet cleaned up.
    def size
      Sidekiq.redis { |conn| conn.call("SCARD", "processes") }
    end

    # Threads available for jobs, over all processes.
    def total_concurrency
      sum { |process| process["concurrency"].to_i }
    end

    def total_rss_in_kb
      sum { |process| process["rss"].to_i }
    end
    alias total_rss total_rss_in_kb

    # Cluster leadership is a Sidekiq Enterprise feature: "" unless an Enterprise process set it.
    def leader
      @leader ||= Sidekiq.redis { |conn| conn.call("GET", "dear-leader") } || ""
    end
  end

  # One server process as its heartbeat describes it: `info` (hostname, pid, tag, concurrency,
  # queues, labels, ...) plus busy, beat, quiet, rss and rtt_us.
  class Process
    def initialize(hash)
      @attribs = hash
    end

    def [](key)
      @attribs[key]
    end

    def tag
      self["tag"]
    end

    def labels
      self["labels"].to_a
    end

    def identity
      self["identity"]
    end

    def queues
      self["queues"]
    end

    def weights
      self["weights"]
    end

    def version
      self["version"]
    end

    def embedded?
      self["embedded"]
    end

    # Asks the process to stop fetching jobs (it finishes those it has); it acts on its next
    # heartbeat.
    def quiet!
      raise "Can't quiet an embedded process" if embedded?

      signal("TSTP")
    end

    # Asks the process to shut down (within its timeout); it acts on its next heartbeat.
    def stop!
      raise "Can't stop an embedded process" if embedded?

      signal("TERM")
    end

    # Asks the process to log every thread's backtrace.
    def dump_threads
      signal("TTIN")
    end

    # Quiet or shutting down.
    def stopping?
      self["quiet"] == "true"
    end

    private

    def signal(name)
      key = "#{identity}-signals"
      Sidekiq.redis do |conn|
        conn.multi do |transaction|
          transaction.call("LPUSH", key, name)
          transaction.call("EXPIRE", key, 60)
        end
      end
    end
  end
end
