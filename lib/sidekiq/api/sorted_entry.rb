# frozen_string_literal: true

module Sidekiq
  # A job in the schedule, retry or dead set, with its score (run time, next retry, or death
  # time, in epoch seconds).
  class SortedEntry < JobRecord
    attr_reader :score, :parent

    def initialize(set, score, job)
      @parent = set
      @score = Float(score)
      super(job)
    end

    # The score as a UTC Time.
    def at
      Ferrokiq::Timestamp.time(score)
    end

    # Whether the job has failed at least once (it carries its error).
    def error?
      self["error_class"] ? true : false
    end

    # Pushes the job to its queue now, without counting this as one of its retries.
    def retry
      move_out { |member| Sidekiq::Client.push(JobSet.manual_retry(member)) }
    end

    # Pushes the job to its queue now (scheduled or dead jobs).
    def add_to_queue
      move_out { |member| Sidekiq::Client.push(Sidekiq.load_json(member)) }
    end

    # Moves the job to the dead set (death handlers run).
    def kill
      move_out { |member| DeadSet.new.kill(member) }
    end

    # Moves the job to +at+ (a Time or epoch seconds). Returns the new score, or nil if the job
    # had already left the set; a job that left is not put back.
    def reschedule(at)
      new_score = Ferrokiq::Timestamp.score(at)
      _, stored = Sidekiq.redis do |conn|
        conn.multi do |transaction|
          transaction.call("ZADD", @parent.name, "XX", new_score.to_s, stored_value)
          transaction.call("ZSCORE", @parent.name, stored_value)
        end
      end
      @score = new_score if stored
      stored && Float(stored)
    end

    # Removes the entry from its set; returns how many members were removed (0 or 1).
    def delete
      member = stored_member
      member ? @parent.delete_by_value(@parent.name, member) : 0
    end

    private

    # The member as Redis holds it: the bytes it was read as or, for an entry built from a
    # Hash, the one with this jid at this score (nil if it is gone).
    def stored_member
      @value || @parent.member_with_jid(score, jid)
    end

    # Takes exactly this job's member out of the set (others of the same score stay where they
    # are) and hands it to the block, if it was still there. If the block fails (unreadable
    # payload, Redis or middleware error) the job goes back to the set.
    def move_out(&block)
      member = stored_member
      return unless member && @parent.delete_by_value(@parent.name, member) == 1

      @parent.while_out(member, score) { block.call(member) }
    end
  end
end
