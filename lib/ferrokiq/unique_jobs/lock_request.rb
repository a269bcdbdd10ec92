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

      # Stands for "not looked up yet" (nil is a result: no such class in this process).
      UNRESOLVED = Object.new.freeze

      # +job_class+: the job's class (or nil) when the caller already looked it up (a bulk
      # slice's jobs share one), so the constant lookup is made once.
      def initialize(item, type, job_class: UNRESOLVED)
        @item = item
        @type = type
        @job_class = job_class
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

      # The lock script's group for this job's hold on +digest+ (its push lock unless told; a
      # :RUN lock is scored +now+, as it is taken when the job runs): see Scripts::LOCK.
      def lock_group(now, digest: self.digest, score: score(now))
        [digest, jid, pttl(now), score, now, limit, info(now) || ""]
      end

      # For a bulk push's template whose jobs can have their lock fields written in Rust
      # (Native::Redis#push_bulk_locked): [prefix, pttl, score, limit, the digest's JSON text
      # before and after the args, lock_timeout, lock_ttl, the template's Symbol values as the
      # Strings JSON writes for them], the same for every job. Nil when a
      # job needs Ruby: lock_args from a method, a TTL from a Proc, lock_info, the :modern
      # digest, a digest given, or a conflict strategy other than dropping or logging.
      def bulk_lock(now)
        return unless args_are_lock_args? && plain_settings?

        before, after = pairs_around_lock_args
        head = "[#{before.map { |pair| "#{LockRequest.json_text(pair)}," }.join}[\"lock_args\","
        tail = "]#{after.map { |pair| ",#{LockRequest.json_text(pair)}" }.join}]"
        texts = item.filter_map { |key, value| [key, value.to_s] if value.is_a?(Symbol) }
        [prefix, pttl(now), score(now), limit, head, tail, lock_timeout, lock_ttl, texts]
      end

      # The same for Native::Redis#lock_and_push: [digest, jid, pttl, score, limit, info or nil].
      def native_lock(now)
        [digest, jid, pttl(now), score(now), limit, info(now)]
      end

      # How many jobs may hold the lock at once (`lock_limit`, 1 unless set), counted as the
      # plugin counts them: the holders in `<digest>:LOCKED`.
      def limit
        value = item["lock_limit"].to_i
        value.positive? ? value : 1
      end

      # The plugin's `<digest>:INFO` record, when `lock_info` is on for this job (or globally):
      # JSON with the fields sidekiq-unique-jobs 8 writes, nil otherwise (docs/design.md, §24).
      def info(now)
        return unless item.fetch("lock_info") { UniqueJobs.settings.lock_info }

        Sidekiq.dump_json(
          "worker" => item["class"].to_s, "queue" => item["queue"], "limit" => item["lock_limit"],
          "timeout" => item["lock_timeout"], "ttl" => item["lock_ttl"], "type" => item["lock"].to_s,
          "lock_args" => item["lock_args"], "time" => now, "at" => item["at"]
        )
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
        @job_class = LockRequest.class_named(item["class"]) if UNRESOLVED.equal?(@job_class)
        @job_class
      end

      # JSON.generate(+value+)'s text, written in Rust: Ferrokiq::Native.dump_json hands any value
      # it cannot write byte for byte to JSON.generate (docs/design.md, §24).
      def self.json_text(value)
        Ferrokiq::Native.dump_json(value)
      end

      def self.class_named(name)
        return name if name.is_a?(Class)

        Object.const_get(name.to_s) if name
      rescue NameError
        nil
      end

      private

      def args_are_lock_args?
        !(item.key?("lock_args") || item["lock_args_method"] || item["unique_args"] ||
          item["lock_digest"] || item["unique_digest"] || job_class.respond_to?(:lock_args))
      end

      def plain_settings?
        settings = UniqueJobs.settings
        ttl = item.fetch("lock_ttl") { item.fetch("lock_expiration") { settings.lock_ttl } }
        (ttl.nil? || ttl.is_a?(Numeric)) && !item.fetch("lock_info") { settings.lock_info } &&
          settings.digest_algorithm.to_s != "modern" && [nil, :log].include?(strategy(:client))
      end

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
      # class, queue, lock_args and apartment, as Ruby's `JSON.generate(digestable.sort)` writes
      # them: the pairs are built in that sorted order (the keys are distinct, so they decide it),
      # and Rust writes the text (see json_text).
      def compute_digest
        text = LockRequest.json_text(digest_pairs)
        hex = if UniqueJobs.settings.digest_algorithm.to_s == "modern"
                OpenSSL::Digest.new("SHA3-256").hexdigest(text)
              else
                ::Digest::MD5.hexdigest(text)
              end
        "#{prefix}:#{hex}"
      end

      # The plugin's digestable Hash (the item's class, queue, lock_args and apartment, less queue
      # with unique_across_queues and class with unique_across_workers) as its sorted pairs.
      def digest_pairs
        before, after = pairs_around_lock_args
        [*before, ["lock_args", lock_args], *after]
      end

      # The digestable pairs sorted before lock_args (apartment, class) and after it (queue).
      def pairs_around_lock_args
        before = []
        before << ["apartment", item["apartment"]] if item.key?("apartment")
        before << ["class", item["class"]] if item.key?("class") && !item["unique_across_workers"]
        after = item.key?("queue") && !item["unique_across_queues"] ? [["queue", item["queue"]]] : []
        [before, after]
      end
    end
  end
end
