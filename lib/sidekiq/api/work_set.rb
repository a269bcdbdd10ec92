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

  # A job running on one thread of one process.
  class Work
    attr_reader :process_id, :thread_id

    def initialize(pid, tid, hsh)
      @process_id = pid
      @thread_id = tid
      @hsh = hsh
      @job = nil
    end

    def queue
      @hsh["queue"]
    end

    # When the job started (heartbeats record whole seconds).
    def run_at
      Time.at(@hsh["run_at"])
    end

    # The running job's payload, as the heartbeat stored it (JSON text).
    def payload
      @hsh["payload"]
    end

    def job
      @job ||= JobRecord.new(payload)
    end

    # The 6.x/7.0 Hash-style access (`work["queue"]`); deprecated in Sidekiq 7.2 in favour of the
    # readers above.
    def [](key)
      warn("Direct access to `Sidekiq::Work` attributes is deprecated, please use `#payload`, `#queue`, " \
           "`#run_at` or `#job` instead", uplevel: 1, category: :deprecated)
      @hsh[key]
    end

    # @api private
    def raw(name)
      @hsh[name]
    end

    def method_missing(name, *args, &block)
      @hsh.respond_to?(name) ? @hsh.public_send(name, *args, &block) : super
    end

    def respond_to_missing?(name, include_private = false)
      @hsh.respond_to?(name) || super
    end
  end

  # The old name of WorkSet.
  Workers = WorkSet
end
