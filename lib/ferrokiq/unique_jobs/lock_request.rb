# frozen_string_literal: true

require "digest/md5"
require "json"
require "openssl"

module Ferrokiq
  module UniqueJobs
    # What a job asks for, read from its payload the way sidekiq-unique-jobs 8 reads it, and the
    # payload fields the plugin writes (`lock_digest`, `lock_args`, ...), byte for byte, so that
    # Ruby plugin processes sharing the Redis honour Ferrokiq's locks and the other way round
    # (docs/design.md, §24).
    class LockRequest
      # Every lock name and alias the plugin accepts, to the lock it means.
      TYPES = {
        "until_executing" => :until_executing, "while_enqueued" => :until_executing,
        "until_executed" => :until_executed, "until_completed" => :until_executed,
        "until_performed" => :until_executed, "until_processed" => :until_executed,
        "until_successfully_completed" => :until_executed,
        "until_expired" => :until_expired,
        "until_and_while_executing" => :until_and_while_executing,
        "while_executing" => :while_executing, "while_busy" => :while_executing,
        "around_perform" => :while_executing, "while_working" => :while_executing,
        "while_executing_reject" => :while_executing
      }.freeze

      # Locks taken when the job is pushed (and so checked by the client).
      CLIENT_LOCKS = %i[until_executing until_executed until_expired until_and_while_executing].freeze
      # Locks taken around perform, under `<digest>:RUN`.
      RUNTIME_LOCKS = %i[while_executing until_and_while_executing].freeze

      DIGESTED_KEYS = %w[class queue lock_args apartment].freeze

      # The type a payload asks for, or nil: no lock, an unknown name, or locks switched off.
      def self.type_of(item)
        name = item["lock"]
        return unless name && UniqueJobs.settings.enabled

        TYPES[name.to_s]
      end

      # An until_expired lock without a TTL never ends: its score is a century away (a finite
      # number, which every reader of the set parses).
      NEVER = 100 * 365 * 86_400

      attr_reader :item, :type

      def initialize(item, type)
        @item = item
        @type = type
      end

      # Writes the plugin's fields into the payload the client is about to push.
      def write_fields!(now)
        item["lock_timeout"] = lock_timeout
        item["lock_ttl"] = lock_ttl
        item["lock_prefix"] = prefix
        item["lock_args"] = lock_args
        item["lock_digest"] = digest
        # A Proc cannot travel in JSON; the args it computed already did.
        item.delete("lock_args_method") if item["lock_args_method"].is_a?(Proc)
        @now = now
        self
      end

      def jid
        item["jid"]
      end

      def digest
        item["lock_digest"] || item["unique_digest"] || compute_digest
      end

      def runtime_digest
        "#{digest}:RUN"
      end

      def client_lock?
        CLIENT_LOCKS.include?(type)
      end

      def runtime_lock?
        RUNTIME_LOCKS.include?(type)
      end

      # Seconds to wait for a runtime lock held by another job (0: do not wait).
      def lock_timeout
        value = item.fetch("lock_timeout") { UniqueJobs.settings.lock_timeout }
        value.nil? ? nil : value.to_f
      end

      # Seconds the lock lives; nil or 0 means forever, as in the plugin. A Proc or the name of
      # a class method is called with the job's args.
      def lock_ttl
        value = item.fetch("lock_ttl") { item.fetch("lock_expiration") { UniqueJobs.settings.lock_ttl } }
        value = job_class&.public_send(value, item["args"]) if value.is_a?(Symbol)
        value = value.call(item["args"]) if value.is_a?(Proc)
        value
      end

      # Milliseconds for PEXPIRE: the TTL, plus the time until a scheduled job's `at`.
      def pttl(now = Time.now.to_f)
        ttl = lock_ttl.to_f
        return 0 unless ttl.positive?

        ttl += item["at"].to_f - now if item["at"] && item["at"].to_f > now
        (ttl * 1000).to_i
      end

      # The digests set's score, the age the reaper reads: when the job may run (now, or its
      # `at`). An until_expired lock outlives its job by design, so its score is when its TTL
      # ends (never, without one): the reaper, which frees locks whose job is gone, leaves it
      # alone until then, and afterwards only drops the stale entry (docs/design.md, §24).
      def score(now = Time.now.to_f)
        return item["at"] ? item["at"].to_f : now unless type == :until_expired

        ttl = pttl(now)
        now + (ttl.positive? ? ttl / 1000.0 : NEVER)
      end

      # What the server does when another job holds the lock; `on_conflict` is one strategy for
      # both sides or `{client:, server:}`.
      def strategy(side)
        value = item.fetch("on_conflict") { UniqueJobs.settings.on_conflict }
        value = value[side] || value[side.to_s] if value.is_a?(Hash)
        return :reject if value.nil? && side == :server && item["lock"].to_s == "while_executing_reject"

        value&.to_sym
      end

      def job_class
        name = item["class"]
        return name if name.is_a?(Class)

        Object.const_get(name.to_s) if name
      rescue NameError
        nil
      end

      private

      def prefix
        item["lock_prefix"] || item["unique_prefix"] || UniqueJobs.settings.lock_prefix
      end

      # The args the digest covers: the job's own, or what the lock_args method makes of them
      # (given the args as they will come back from JSON, as the plugin does).
      def lock_args
        return item["lock_args"] if item.key?("lock_args")

        method = item["lock_args_method"] || item["unique_args"]
        klass = job_class
        method = :lock_args if method.nil? && klass.respond_to?(:lock_args)
        return item["args"] if method.nil? || method == false

        args = ::JSON.parse(::JSON.generate(item["args"]))
        method.is_a?(Proc) ? method.call(args) : klass.public_send(method.to_sym, args)
      end

      # `prefix:` + MD5 (or SHA3-256 with digest_algorithm :modern) of the sorted pairs of
      # class, queue, lock_args and apartment, as Ruby's JSON.generate writes them.
      def compute_digest
        digestable = item.slice(*DIGESTED_KEYS)
        digestable["lock_args"] = lock_args
        digestable.delete("queue") if item["unique_across_queues"]
        digestable.delete("class") if item["unique_across_workers"]
        text = ::JSON.generate(digestable.sort)
        hex = if UniqueJobs.settings.digest_algorithm.to_s == "modern"
                OpenSSL::Digest.new("SHA3-256").hexdigest(text)
              else
                ::Digest::MD5.hexdigest(text)
              end
        "#{prefix}:#{hex}"
      end
    end
  end
end
