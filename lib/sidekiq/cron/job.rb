# frozen_string_literal: true

require "time"
require "sidekiq"
require "ferrokiq/periodic/store"
require "sidekiq/cron/configuration"
require "sidekiq/cron/namespace"
require "sidekiq/cron/loading"

module Sidekiq
  # sidekiq-cron's API, built into Ferrokiq (docs/design.md, "Periodic jobs").
  module Cron
    # A cron job as sidekiq-cron 2.x keeps it (`cron_jobs:<namespace>`,
    # `cron_job:<namespace>:<name>`), so existing tooling lists it. Each job is also a `schedules`
    # entry named after its key, which the Rust scheduler ticks with the same exactly-once claim
    # as sidekiq-scheduler's (docs/design.md, §5.1).
    class Job
      extend Loading

      # sidekiq-cron's spellings of true for `date_as_argument` (YAML, forms, its "1"/"0").
      TRUE_TEXT = /\A(true|t|yes|y|1)\z/i

      attr_accessor :name, :namespace, :cron, :klass, :args, :queue, :description, :status, :source,
                    :date_as_argument
      attr_reader :errors

      class << self
        def create(attributes)
          new(attributes).tap(&:save)
        end

        # The jobs of +namespace+ ("*": of every namespace Namespace.all lists), by key.
        def all(namespace = Namespace.default)
          sets = namespace == "*" ? Namespace.all.map { |name| Namespace.jobs_key(name) } : [jobs_key(namespace)]
          keys = Sidekiq.redis { |conn| conn.pipelined { |pipe| sets.each { |set| pipe.call("SMEMBERS", set) } } }
          keys = keys.flatten.uniq.sort
          records = Sidekiq.redis { |conn| conn.pipelined { |pipe| keys.each { |key| pipe.call("HGETALL", key) } } }
          records.reject(&:empty?).map { |record| from_record(record) }
        end

        def count(namespace = Namespace.default)
          return Namespace.all.sum { |name| Namespace.count(name) } if namespace == "*"

          Namespace.count(namespace)
        end

        # `find("nightly")`, `find("nightly", "billing")`, or sidekiq-cron's Hash form,
        # `find(name: "nightly", namespace: "billing")`.
        def find(name, namespace = nil)
          name, namespace = name_and_namespace(name, namespace)
          record = Sidekiq.redis { |conn| conn.hgetall(key_for(name, namespace)) }
          record.empty? ? nil : from_record(record)
        end

        def exists?(name, namespace = Namespace.default)
          Sidekiq.redis { |conn| conn.exists(key_for(name, namespace)) }.positive?
        end

        def destroy(name, namespace = nil)
          find(name, namespace)&.destroy ? true : false
        end

        # Deletes the jobs of +namespace+ (the default one, as sidekiq-cron does; "*": all).
        def destroy_all!(namespace = Namespace.default)
          all(namespace).each(&:destroy)
          true
        end

        def key_for(name, namespace = Namespace.default)
          Namespace.job_key(name, namespace)
        end
        alias redis_key key_for

        def jobs_key(namespace = Namespace.default)
          Namespace.jobs_key(namespace)
        end

        private

        def name_and_namespace(name, namespace)
          if name.is_a?(Hash)
            fields = name.transform_keys(&:to_s)
            return [fields["name"].to_s, namespace || fields["namespace"]]
          end
          [name.to_s, namespace]
        end

        # A stored job keeps the namespace its keys are in, even one no longer configured, so
        # that destroying or saving it acts on those keys.
        def from_record(record)
          job = new(record.merge("args" => Sidekiq.load_json(record["args"].to_s.empty? ? "[]" : record["args"]),
                                 "namespace" => nil))
          job.namespace = Namespace.blank_to_default(record["namespace"])
          job
        end
      end

      def initialize(attributes = {})
        fields = attributes.transform_keys(&:to_s)
        @name = fields["name"].to_s
        @namespace = Namespace.resolve(fields["namespace"])
        @cron = fields["cron"].to_s
        @klass = (fields["klass"] || fields["class"]).to_s
        @args = parse_args(fields["args"])
        @queue = fields["queue"].to_s.empty? ? nil : fields["queue"].to_s # stored as "" when unset
        @description = fields["description"].to_s
        @status = fields["status"]&.to_s
        @source = (fields["source"] || "dynamic").to_s
        @date_as_argument = flag?(fields["date_as_argument"])
        @errors = []
      end

      def valid?
        @errors = []
        @errors << "'name' must be set" if name.empty?
        @errors.concat(namespace_errors)
        @errors << "'cron' must be set" if cron.empty?
        @errors.concat(cron_errors) unless cron.empty?
        @errors << "'klass' (or class) must be set" if klass.empty?
        @errors.empty?
      end

      # Writes the job; a job saved without `status` keeps the one stored (a job disabled in
      # the UI stays disabled when the schedule file is loaded again).
      def save
        return false unless valid?

        @status ||= stored_status || "enabled"
        Sidekiq.redis do |conn|
          conn.sadd(self.class.jobs_key(namespace), key)
          conn.hset(key, *record.flatten)
        end
        Ferrokiq::Periodic::Store.set(key, schedule_entry)
        Ferrokiq::Periodic::Store.set_enabled(key, enabled?)
        true
      end

      def destroy
        Ferrokiq::Periodic::Store.remove(key)
        Sidekiq.redis do |conn|
          conn.srem(self.class.jobs_key(namespace), key)
          conn.del(key)
        end
        true
      end

      def enable!
        self.status = "enabled"
        save
      end

      def disable!
        self.status = "disabled"
        save
      end

      def enabled?
        status != "disabled"
      end

      def disabled?
        !enabled?
      end

      # Pushes the job now, outside its schedule (sidekiq-cron's "Enqueue now"), as a tick at
      # +time+ would push it (with +time+ as its date argument when `date_as_argument` is set).
      def enque!(time = Time.now)
        entry = Ferrokiq::Periodic::Entry.prepare(key, schedule_entry)
        jid = Sidekiq::Client.push(Ferrokiq::Periodic::Entry.job(key, entry, time))
        Sidekiq.redis { |conn| conn.hset(key, "last_enqueue_time", time.utc.strftime("%Y-%m-%d %H:%M:%S %z")) }
        jid
      end

      def last_enqueue_time
        stamp = Sidekiq.redis { |conn| conn.hget(key, "last_enqueue_time") }
        stamp && !stamp.empty? ? Time.parse(stamp) : nil
      end

      def date_as_argument?
        date_as_argument ? true : false
      end

      def key
        self.class.key_for(name, namespace)
      end

      private

      # Why the scheduler could not tick `cron` (the Rust parser's reason, which names the word
      # it did not understand), and, in the :strict parsing mode, a natural-language line that
      # stands for several crons.
      def cron_errors
        if Sidekiq::Cron.configuration.natural_cron_parsing_mode == :strict && cron.match?(/\A\s*[a-zA-Z]/) &&
           Ferrokiq::Native.natural_crons(cron).size > 1
          return ["'cron' -> #{cron.inspect}: multiple crons in one natural-language line (:strict mode)"]
        end

        Ferrokiq::Native.periodic_next(key, Sidekiq.dump_json({ "cron" => cron }), Time.now.to_f, Time.now.to_f)
        []
      rescue ArgumentError => e
        ["'cron' -> #{cron.inspect}: #{e.message}"]
      end

      # "*" stands for every namespace in queries; a ":" would make two namespaces' keys collide
      # (Namespace::SEPARATOR).
      def namespace_errors
        return ["'namespace' must be set"] if namespace.to_s.empty?
        return ["'namespace' cannot be '*'"] if namespace == "*"
        return ["'namespace' cannot contain ':'"] if namespace.include?(Namespace::SEPARATOR)

        []
      end

      def flag?(value)
        value == true || TRUE_TEXT.match?(value.to_s)
      end

      def stored_status
        status = Sidekiq.redis { |conn| conn.hget(key, "status") }
        status unless status.to_s.empty?
      end

      def parse_args(value)
        case value
        when nil, "" then []
        when String then Sidekiq.load_json(value)
        when Hash then [value]
        else Array(value)
        end
      end

      def record
        { "name" => name, "namespace" => namespace, "klass" => klass, "cron" => cron,
          "description" => description, "source" => source, "args" => Sidekiq.dump_json(args),
          "date_as_argument" => date_as_argument? ? "1" : "0", "status" => status, "queue" => queue.to_s }
      end

      def schedule_entry
        entry = { "cron" => cron, "class" => klass, "args" => args, "description" => description }
        entry["date_as_argument"] = true if date_as_argument?
        queue ? entry.merge("queue" => queue) : entry
      end
    end
  end
end
