# frozen_string_literal: true

require "digest/sha1"
require "sidekiq/client"
require "sidekiq/component"

module Sidekiq
  module Scheduled
    # Sidekiq 7's mover of due jobs, for the apps that call it themselves: test suites and
    # consoles run `Sidekiq::Scheduled::Enq.new(Sidekiq.default_configuration).enqueue_jobs` to
    # push what is due without waiting for a server. Ferrokiq's server does not use it (the
    # engine's scheduler moves due jobs, docs/design.md, §5), so it only has to agree with that
    # scheduler on what a move is: a due job reaches its queue through Sidekiq::Client (its
    # middleware and unique-job lock included), one job out of Redis at a time so that a crash
    # risks at most one, and an entry that is not a job goes to the dead set instead of being
    # lost or stopping the jobs behind it.
    class Enq
      include Sidekiq::Component

      # Takes the first member of the set KEYS[1] due at ARGV[1] (epoch seconds) out of it and
      # returns it with its score; nil when nothing is due.
      TAKE_DUE = <<~LUA
        local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "WITHSCORES", "LIMIT", 0, 1)
        if #due == 0 then return nil end
        redis.call("ZREM", KEYS[1], due[1])
        return due
      LUA
      TAKE_DUE_SHA = Digest::SHA1.hexdigest(TAKE_DUE)

      # Sidekiq 6 built it without an argument; 7 passes the configuration.
      def initialize(container = Sidekiq.default_configuration)
        @config = container
        @client = Sidekiq::Client.new(config: container)
        @done = false
      end

      # Pushes every job of +sorted_sets+ that is due now, lowest score first, until none is left
      # or #terminate is called. Errors other than an unreadable entry propagate, the job they
      # concern back in its set.
      def enqueue_jobs(sorted_sets = SETS)
        sorted_sets.each do |set|
          while !@done && (member, score = take_due(set))
            enqueue(set, member, score)
          end
        end
      end

      # Stops #enqueue_jobs before its next job (another thread may call it).
      def terminate
        @done = true
      end

      private

      def take_due(set)
        redis { |conn| evaluate(conn, set, Time.now.to_f.to_s) }
      end

      def evaluate(conn, set, now)
        conn.call("EVALSHA", TAKE_DUE_SHA, 1, set, now)
      rescue StandardError => e
        raise unless e.message.start_with?("NOSCRIPT")

        conn.call("EVAL", TAKE_DUE, 1, set, now)
      end

      def enqueue(set, member, score)
        job = parse(set, member)
        return unless job

        @client.push(job)
        logger.debug { "enqueued #{set}: #{member}" }
      rescue Exception # rubocop:disable Lint/RescueException -- an interrupt must not lose the job either
        redis { |conn| conn.call("ZADD", set, score.to_s, member) }
        raise
      end

      # The job, or nil for an entry that is not one: that entry is moved to the dead set and
      # reported, as the engine's scheduler does with it (docs/design.md, §5).
      def parse(set, member)
        job = Sidekiq.load_json(member)
        return job if job.is_a?(Hash)

        raise JSON::ParserError, "not a job's JSON object"
      rescue JSON::ParserError => e
        require "sidekiq/api"
        Sidekiq::DeadSet.new.kill(member, notify_failure: false)
        handle_exception(e, { context: "Moved a #{set} entry that cannot be enqueued to the dead set", jobstr: member })
        nil
      end
    end
  end
end
