# frozen_string_literal: true

module Sidekiq
  # The Sidekiq (and Ferrokiq) server processes that have sent a heartbeat in the last minute.
  class ProcessSet
    include Enumerable

    # Heartbeat fields that change with every beat, and how each is read; they override `info`'s
    # keys of the same name.
    LIVE_FIELDS = { "busy" => :to_i, "beat" => :to_f, "quiet" => :itself, "rss" => :to_i, "rtt_us" => :to_i }.freeze
    # Heartbeat hash fields read per process: `info` (the JSON written at start-up), the live
    # ones, and `concurrency`, a field of its own from Sidekiq 8.1.2 (no longer in `info`).
    FIELDS = ["info", *LIVE_FIELDS.keys, "concurrency"].freeze
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
      info, *live, concurrency = fields
      attributes = Sidekiq.load_json(info)
      LIVE_FIELDS.zip(live) { |(field, reader), value| attributes[field] = value.public_send(reader) }
      attributes["concurrency"] ||= concurrency.to_i if concurrency
      Process.new(attributes)
    end

    # Forgets dead processes first unless +prune+ is false.
    def initialize(prune = true) # rubocop:disable Style/OptionalBooleanParameter -- Sidekiq's positional argument
      cleanup if prune
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
    # Control requests a process reads from its `<identity>-signals` list at each heartbeat
    # (so within about ten seconds), by the method that sends them.
    SIGNALS = { quiet!: "TSTP", stop!: "TERM", dump_threads: "TTIN" }.freeze
    # Processes embedded in another application are quieted and stopped by that application.
    HOST_CONTROLLED = %i[quiet! stop!].freeze
    private_constant :SIGNALS, :HOST_CONTROLLED

    def initialize(attributes)
      @attributes = attributes
    end

    # A heartbeat attribute by name.
    def [](name)
      @attributes[name]
    end

    %w[identity tag version queues weights].each do |name|
      define_method(name) { @attributes[name] }
    end

    def labels
      Array(@attributes["labels"])
    end

    def embedded?
      @attributes["embedded"]
    end

    # Quiet (fetching no more jobs) or shutting down.
    def stopping?
      @attributes["quiet"] == "true"
    end

    # quiet! stops fetching (running jobs finish); stop! shuts down within the process's
    # timeout; dump_threads logs every thread's backtrace. All act on the next heartbeat.
    SIGNALS.each do |request, signal|
      define_method(request) do
        if embedded? && HOST_CONTROLLED.include?(request)
          raise "#{identity} is embedded in another application, which must #{request.to_s.delete("!")} it"
        end

        deliver(signal)
      end
    end

    private

    # The list expires so that a process that never reads it does not leave it behind.
    def deliver(signal)
      inbox = "#{identity}-signals"
      Sidekiq.redis do |conn|
        conn.multi do |transaction|
          transaction.call("LPUSH", inbox, signal)
          transaction.call("EXPIRE", inbox, 60)
        end
      end
    end
  end
end
