# frozen_string_literal: true

module Sidekiq
  # A queue (`queue:<name>` list): its size, latency and jobs, newest first. Live data: jobs come
  # and go while you look.
  class Queue
    include Enumerable

    PAGE_SIZE = 50

    # Every queue a client has pushed to, by name.
    def self.all
      Sidekiq.redis { |conn| Ferrokiq::Scan.set_members(conn, "queues") }.sort.map { |name| new(name) }
    end

    attr_reader :name

    def initialize(name = "default")
      @name = name.to_s
      @rname = "queue:#{@name}"
    end

    def size
      Sidekiq.redis { |conn| conn.call("LLEN", @rname) }
    end

    # Pausing is a Sidekiq Pro feature.
    def paused?
      false
    end

    # Seconds the oldest job has been waiting; 0 for an empty queue.
    def latency
      JobRecord.latency_of(Sidekiq.redis { |conn| conn.call("LINDEX", @rname, -1) })
    end

    # Yields a JobRecord per job, newest first, in pages. Deleting yielded jobs in the block
    # skips none of the others; while workers and clients change the queue, a job can be yielded
    # twice or (when pushes and removals balance out) missed: it reads a live list.
    def each
      return to_enum(:each) unless block_given?

      length_at_start = size
      Ferrokiq::Paging.each(from: :head, page_size: PAGE_SIZE,
                            read: ->(first, last) { Sidekiq.redis { |conn| conn.call("LRANGE", @rname, first, last) } },
                            removed: -> { length_at_start - size }) do |entry|
        yield JobRecord.new(entry, @name)
      end
    end

    # The job with this jid, or nil. The search runs in Redis pages, outside Ruby.
    def find_job(jid)
      entry = Sidekiq.redis { |conn| Ferrokiq::Scan.find_in_list(conn, @rname, jid) }
      entry && JobRecord.new(entry, @name)
    end

    # Deletes every job and forgets the queue.
    def clear
      Sidekiq.redis do |conn|
        conn.multi do |transaction|
          transaction.call("UNLINK", @rname)
          transaction.call("SREM", "queues", @name)
        end
      end
      true
    end
    alias 💣 clear # rubocop:disable Naming/AsciiIdentifiers -- Sidekiq's public name

    # @api private
    def as_json(_options = nil)
      { name: }
    end
  end
end
