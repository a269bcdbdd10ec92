# frozen_string_literal: true

require "sidekiq/redis_connection"
require "date"
require "time"

module Sidekiq
  # Deploy marks, shown on the Metrics charts (docs/wire-format.md §14): call it from a deploy
  # script, `Sidekiq::Deploy.mark!("v42: faster mailer")`. Without a label, the last git
  # commit's short hash and subject are used.
  class Deploy
    # Marks stay for 90 days.
    MARK_TTL = 90 * 24 * 60 * 60

    # The label when none is given: "<short hash> <subject>" of HEAD, or "" outside git.
    LABEL_MAKER = lambda do
      IO.popen(["git", "log", "-1", "--format=%h %s"], err: File::NULL, &:read).to_s.strip
    rescue SystemCallError
      ""
    end

    def self.mark!(label = nil)
      new.mark!(label:)
    end

    def initialize(pool = Sidekiq::RedisConnection.create)
      @pool = pool
    end

    # Records the mark at the start of its minute, so that every process of a deploy marking
    # it yields one mark; the same label is not marked again for a minute.
    def mark!(at: Time.now, label: nil)
      label ||= LABEL_MAKER.call
      utc = at.utc
      minute = Time.utc(utc.year, utc.month, utc.day, utc.hour, utc.min)
      stamp = minute.iso8601
      key = "#{minute.strftime("%Y%m%d")}-marks"
      @pool.with do |conn|
        next unless conn.set("deploylock-#{label}", stamp, nx: true, ex: 60)

        conn.multi do |transaction|
          transaction.hsetnx(key, stamp, label)
          transaction.expire(key, MARK_TTL)
        end
      end
    end

    # The marks of one UTC day: ISO 8601 time => label.
    def fetch(date = Time.now.utc.to_date)
      @pool.with { |conn| conn.hgetall("#{date.strftime("%Y%m%d")}-marks") }
    end
  end
end
