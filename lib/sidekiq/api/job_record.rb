# frozen_string_literal: true

require "zlib"

module Sidekiq
  # One job as stored in a queue (and, through SortedEntry, in a sorted set). Read-only, apart
  # from #delete.
  class JobRecord
    ACTIVE_JOB_WRAPPERS = %w[ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper Sidekiq::ActiveJob::Wrapper].freeze
    # Mailer jobs whose first three arguments are mailer class, method and delivery method.
    LEGACY_MAILER_JOB = "ActionMailer::DeliveryJob"
    MAILER_JOB = "ActionMailer::MailDeliveryJob"
    GLOBALID_KEY = "_aj_globalid"
    ACTIVE_JOB_PREFIX = "_aj_"

    # The parsed payload Hash ({} when the stored text was not JSON).
    attr_reader :item
    # The payload exactly as stored in Redis (nil when built from a Hash).
    attr_reader :value
    # The queue the record was read from, or the payload's own.
    attr_reader :queue

    # Seconds the job stored as +entry+ (a queue's oldest) has waited; 0 when there is none. An
    # unreadable entry reads as no latency, not as an error.
    def self.latency_of(entry)
      entry ? new(entry).latency : 0
    end

    def initialize(job, from_queue = nil)
      case job
      when Hash then @item = job
      when String
        @value = job
        @item = parse(job)
      else raise ArgumentError, "a job record is built from the stored JSON or a Hash, not #{job.class}"
      end
      @queue = from_queue || @item["queue"]
    end

    # @api private
    # The payload Hash, or {} when +text+ is not a JSON object. Such an entry shows its text as
    # its only argument, so that a dashboard can still display (and delete) it.
    def parse(text)
      payload = begin
        Sidekiq.load_json(text)
      rescue JSON::ParserError
        nil
      end
      @unreadable = !payload.is_a?(Hash)
      @unreadable ? {} : payload
    end

    # The class the server runs (for Active Job, the adapter's wrapper).
    def klass
      self["class"]
    end

    # The class a person thinks of: the wrapped Active Job class, or Mailer#method for mail.
    def display_class
      @display_class ||= self["display_class"] || active_job_display_class || klass
    end

    # The arguments a person thinks of: Active Job arguments unwrapped (GlobalIDs as their
    # URIs), mailer bookkeeping dropped, encrypted arguments masked.
    def display_args
      @display_args ||= if active_job?
                          active_job_display_args
                        elsif self["encrypt"] && args.is_a?(Array) && !args.empty?
                          args[0...-1] + ["[encrypted data]"]
                        else
                          args
                        end
    end

    def args
      @unreadable ? [@value] : @item["args"]
    end

    def jid
      self["jid"]
    end

    def bid
      self["bid"]
    end

    def enqueued_at
      Ferrokiq::Timestamp.time(self["enqueued_at"])
    end

    def created_at
      Ferrokiq::Timestamp.time(self["created_at"] || self["enqueued_at"] || 0.0)
    end

    def failed_at
      Ferrokiq::Timestamp.time(self["failed_at"])
    end

    def retried_at
      Ferrokiq::Timestamp.time(self["retried_at"])
    end

    def tags
      self["tags"] || []
    end

    # Seconds since the job was enqueued (or created).
    def latency
      Ferrokiq::Timestamp.age(@item["enqueued_at"] || @item["created_at"])
    end

    # The stored backtrace lines (decompressed), or nil.
    def error_backtrace
      return @error_backtrace if defined?(@error_backtrace)

      @error_backtrace = decode_backtrace(self["error_backtrace"])
    end

    # Removes the job from its queue; true if it was still there.
    def delete
      removed = Sidekiq.redis { |conn| conn.call("LREM", "queue:#{@queue}", 1, stored_value) }
      removed != 0
    end

    # A payload field by name, as stored.
    def [](field)
      @item[field]
    end

    private

    # The bytes to match in Redis: as read, or the Hash written as every Sidekiq writes it.
    def stored_value
      @value || Sidekiq.dump_json(@item)
    end

    def active_job?
      ACTIVE_JOB_WRAPPERS.include?(klass)
    end

    def active_job_payload
      first = args.is_a?(Array) ? args.first : nil
      first.is_a?(Hash) ? first : {}
    end

    def wrapped_class
      self["wrapped"] || active_job_payload["job_class"]
    end

    def active_job_display_class
      return unless active_job?

      if [LEGACY_MAILER_JOB, MAILER_JOB].include?(wrapped_class)
        Array(active_job_payload["arguments"])[0..1].join("#")
      else
        wrapped_class
      end
    end

    def active_job_display_args
      job_args = Array(unwrap_argument(active_job_payload["arguments"]))
      case wrapped_class
      when LEGACY_MAILER_JOB then job_args.drop(3)
      when MAILER_JOB
        params = job_args.drop(3).first
        params.is_a?(Hash) ? params.values_at("params", "args") : []
      else job_args
      end
    end

    def unwrap_argument(argument)
      case argument
      when Array then argument.map { |arg| unwrap_argument(arg) }
      when Hash
        return argument[GLOBALID_KEY] if argument.size == 1 && argument.key?(GLOBALID_KEY)

        argument.reject { |key, _| key.start_with?(ACTIVE_JOB_PREFIX) }.transform_values { |v| unwrap_argument(v) }
      else argument
      end
    end

    # base64 (with or without line breaks) of zlib-deflated JSON; very old Sidekiqs stored the
    # Array itself.
    def decode_backtrace(stored)
      return if stored.nil?
      return stored if stored.is_a?(Array)

      Sidekiq.load_json(Zlib::Inflate.inflate(stored.unpack1("m")))
    end
  end
end
