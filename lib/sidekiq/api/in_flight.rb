# frozen_string_literal: true

module Sidekiq
  # Ferrokiq's addition to the Data API: the jobs reliable fetch has taken off their queues and
  # not finished. Each sits in its process's working list (docs/wire-format.md §3.3) while it
  # runs, while it waits in the process's prefetch, or, stranded (its fetch's reply was lost,
  # or it ended unacknowledged), until the process's sweep puts it back on its queue.
  #
  #   Sidekiq::InFlightSet.new.size                 # every process, every queue
  #   Sidekiq::InFlightSet.new("mailers").each { |job| puts "#{job.identity} #{job.jid}" }
  class InFlightSet
    include Enumerable

    REGISTRY = "ferrokiq:working"

    # A taken job, with the process that holds it.
    class Job < JobRecord
      # The identity (`host:pid:nonce`) of the process whose working list holds the job.
      attr_reader :identity

      def initialize(payload, queue, identity)
        super(payload, queue)
        @identity = identity
      end
    end

    # Only the jobs taken from +queue+ when one is named.
    def initialize(queue = nil)
      @queue = queue&.to_s
    end

    def size
      lists = working_lists
      return 0 if lists.empty?

      Sidekiq.redis { |conn| conn.pipelined { |pipe| lists.each { |key, _, _| pipe.call("LLEN", key) } } }.sum
    end

    def each
      return enum_for(:each) unless block_given?

      working_lists.each do |key, identity, queue|
        payloads = Sidekiq.redis { |conn| conn.call("LRANGE", key, 0, -1) }
        payloads.each { |payload| yield Job.new(payload, queue, identity) }
      end
    end

    # @api private
    # [[list key, identity, queue], ...] from the registry (value: identity, queue, asserted at).
    def working_lists(conn = nil)
      registry = conn ? conn.call("HGETALL", REGISTRY) : Sidekiq.redis { |c| c.call("HGETALL", REGISTRY) }
      registry.filter_map do |key, owner|
        identity, queue = owner.split("\n", 3)
        [key, identity, queue] if queue && (@queue.nil? || queue == @queue)
      end
    end
  end
end
