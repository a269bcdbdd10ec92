# frozen_string_literal: true

module Sidekiq
  # A job in the schedule, retry or dead set, with its score (run time, next retry, or death
  # time, in epoch seconds).
  class SortedEntry < JobRecord
    attr_reader :score, :parent

    def initialize(parent, score, item)
      super(item)
      @score = Float(score)
      @parent = parent
    end

    def at
      Time.at(score).utc
    end

    # Removes the entry from its set.
    def delete
      if @value
        @parent.delete_by_value(@parent.name, @value)
      else
        @parent.delete_by_jid(score, jid)
      end
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

    # Pushes the job to its queue now (scheduled or dead jobs).
    def add_to_queue
      remove_job { |message| Sidekiq::Client.push(Sidekiq.load_json(message)) }
    end

    # Pushes the job to its queue now, without counting this as one of its retries.
    def retry
      remove_job do |message|
        msg = Sidekiq.load_json(message)
        msg["retry_count"] -= 1 if msg["retry_count"].is_a?(Integer)
        Sidekiq::Client.push(msg)
      end
    end

    # Moves the job to the dead set (death handlers run).
    def kill
      remove_job { |message| DeadSet.new.kill(message) }
    end

    def error?
      !!item["error_class"]
    end

    private

    # Takes the job out of the set and yields its payload, if it was still there. With the
    # stored bytes at hand that is one ZREM, which leaves other jobs of the same score alone.
    # If the block fails (unreadable payload, Redis or middleware error) the job goes back.
    def remove_job
      message = if @value
                  @value if @parent.delete_by_value(@parent.name, @value).positive?
                else
                  @parent.take_by_jid(score, jid)
                end
      return unless message

      begin
        yield message
      rescue Exception # rubocop:disable Lint/RescueException
        @parent.restore(score, message)
        raise
      end
    end
  end
end
