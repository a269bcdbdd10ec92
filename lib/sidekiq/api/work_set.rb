# frozen_string_literal: true

module Sidekiq
  # The jobs running right now, as the processes' heartbeats last reported them (up to ten
  # seconds old).
  class WorkSet
    include Enumerable

    # Yields `process_id, thread_id, work` (a Sidekiq::Work) per busy thread, longest-running
    # first. Reads `<identity>:work` (Sidekiq 6.5+, Ferrokiq) and, for Sidekiq 6.4 processes,
    # which only write `<identity>:workers`, that one.
    def each(&block)
      return to_enum(:each) unless block

      identities, hashes = Sidekiq.redis do |conn|
        keys = Ferrokiq::Scan.set_members(conn, "processes").sort
        replies = conn.pipelined do |pipe|
          keys.each do |key|
            pipe.call("HGETALL", "#{key}:work")
            pipe.call("HGETALL", "#{key}:workers")
          end
        end
        [keys, replies.each_slice(2).map { |work, workers| work.empty? ? workers : work }]
      end
      all_work(identities, hashes).sort_by { |(_, _, work)| work.raw("run_at").to_i }.each(&block)
    end

    # @api private
    # One page of #each, for the Web UI: [total, [[process_id, thread_id, work], ...]], the
    # busy threads from +first+, +count+ of them. Rust reads every heartbeat in one round trip
    # and orders them; only the page's Works are built. nil on a connection that is not
    # Ferrokiq's.
    def page(first, count)
      total, threads = Sidekiq.redis do |conn|
        next unless conn.respond_to?(:native)

        conn.native.busy_page(first, count)
      end
      return unless total

      [total, threads.map { |identity, tid, json| [identity, tid, Work.new(identity, tid, Sidekiq.load_json(json))] }]
    end

    # Busy threads as the heartbeats counted them.
    def size
      Sidekiq.redis do |conn|
        identities = Ferrokiq::Scan.set_members(conn, "processes")
        conn.pipelined { |pipe| identities.each { |identity| pipe.call("HGET", identity, "busy") } }.sum(&:to_i)
      end
    end

    # The Work running the job with +jid+, or nil.
    def find_work(jid)
      each { |_process_id, _thread_id, work| return work if work.job.jid == jid }
      nil
    end
    alias find_work_by_jid find_work

    private

    def all_work(identities, hashes)
      identities.zip(hashes).flat_map do |identity, threads|
        threads.to_h.filter_map do |tid, json|
          [identity, tid, Work.new(identity, tid, Sidekiq.load_json(json))] unless json.empty?
        end
      end
    end
  end

  # A job running on one thread of one process, as its heartbeat describes it: `queue`,
  # `run_at` (epoch seconds) and `payload` (the job's JSON).
  class Work
    attr_reader :process_id, :thread_id

    def initialize(process_id, thread_id, heartbeat)
      @process_id = process_id
      @thread_id = thread_id
      @heartbeat = heartbeat
    end

    # @api private
    # A heartbeat field, unconverted.
    def raw(field)
      @heartbeat[field]
    end

    def queue
      raw("queue")
    end

    # The running job's payload, as the heartbeat stored it (JSON text).
    def payload
      raw("payload")
    end

    # When the job started (heartbeats record whole seconds).
    def run_at
      Time.at(raw("run_at"))
    end

    def job
      @job ||= JobRecord.new(payload)
    end

    # Works were Hashes before Sidekiq 7.2; indexing one still answers, with a warning.
    def [](field)
      warn("Sidekiq::Work#[] is going away: read work.queue, work.run_at, work.payload or work.job " \
           "instead of work[#{field.inspect}]", uplevel: 1, category: :deprecated)
      raw(field)
    end

    # The rest of the old Hash interface (keys, fetch, each ...) still reaches the heartbeat.
    def method_missing(name, *args, &block)
      @heartbeat.respond_to?(name) ? @heartbeat.public_send(name, *args, &block) : super
    end

    def respond_to_missing?(name, include_private = false)
      @heartbeat.respond_to?(name) || super
    end
  end

  # The old name of WorkSet.
  Workers = WorkSet
end
