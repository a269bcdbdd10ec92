# frozen_string_literal: true

require "time"
require "sidekiq"
require "ferrokiq/periodic/store"
require "sidekiq/cron/configuration"

module Sidekiq
  # sidekiq-cron's API, built into Ferrokiq (docs/design.md, "Periodic jobs").
  module Cron
    # A cron job as sidekiq-cron 2.x keeps it (`cron_jobs:default`, `cron_job:default:<name>`),
    # so existing tooling lists it. Each job is also a `schedules` entry named after its key,
    # which the Rust scheduler ticks with the same exactly-once claim as sidekiq-scheduler's.
    class Job
      NAMESPACE = "default"
      JOBS = "cron_jobs:#{NAMESPACE}".freeze

      attr_accessor :name, :cron, :klass, :args, :queue, :description, :status, :source
      attr_reader :errors

      class << self
        def create(attributes)
          new(attributes).tap(&:save)
        end

        def all
          keys = Sidekiq.redis { |conn| conn.smembers(JOBS) }.sort
          records = Sidekiq.redis { |conn| conn.pipelined { |pipe| keys.each { |key| pipe.call("HGETALL", key) } } }
          records.reject(&:empty?).map { |record| from_record(record) }
        end

        def count
          Sidekiq.redis { |conn| conn.scard(JOBS) }
        end

        def find(name)
          name = name["name"] || name[:name] if name.is_a?(Hash)
          record = Sidekiq.redis { |conn| conn.hgetall(key_for(name)) }
          record.empty? ? nil : from_record(record)
        end

        def destroy(name)
          find(name)&.destroy ? true : false
        end

        # Saves each job (name => attributes); returns the errors of the invalid ones.
        def load_from_hash(hash, source: "dynamic")
          load_from_array(hash.map { |name, attributes| attributes.merge("name" => name.to_s) }, source:)
        end

        def load_from_array(array, source: "dynamic")
          array.flat_map do |attributes|
            job = new(attributes.merge("source" => source))
            job.save ? [] : job.errors
          end
        end

        # As the plain forms, and deletes the jobs of the same source no longer listed.
        def load_from_hash!(hash, source: "dynamic")
          load_from_array!(hash.map { |name, attributes| attributes.merge("name" => name.to_s) }, source:)
        end

        def load_from_array!(array, source: "dynamic")
          listed = array.map { |attributes| (attributes["name"] || attributes[:name]).to_s }
          all.each { |job| job.destroy if job.source == source && !listed.include?(job.name) }
          load_from_array(array, source:)
        end

        def key_for(name)
          "cron_job:#{NAMESPACE}:#{name}"
        end

        private

        def from_record(record)
          new(record.merge("args" => Sidekiq.load_json(record["args"].to_s.empty? ? "[]" : record["args"])))
        end
      end

      def initialize(attributes = {})
        fields = attributes.transform_keys(&:to_s)
        @name = fields["name"].to_s
        @cron = fields["cron"].to_s
        @klass = (fields["klass"] || fields["class"]).to_s
        @args = parse_args(fields["args"])
        @queue = fields["queue"].to_s.empty? ? nil : fields["queue"].to_s # stored as "" when unset
        @description = fields["description"].to_s
        @status = fields["status"]&.to_s
        @source = (fields["source"] || "dynamic").to_s
        @errors = []
      end

      def valid?
        @errors = []
        @errors << "'name' must be set" if name.empty?
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
          conn.sadd(JOBS, key)
          conn.hset(key, *record.flatten)
        end
        Ferrokiq::Periodic::Store.set(key, schedule_entry)
        Ferrokiq::Periodic::Store.set_enabled(key, enabled?)
        true
      end

      def destroy
        Ferrokiq::Periodic::Store.remove(key)
        Sidekiq.redis do |conn|
          conn.srem(JOBS, key)
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

      # Pushes the job now, outside its schedule (sidekiq-cron's "Enqueue now").
      def enque!(time = Time.now)
        jid = Sidekiq::Client.push("class" => klass, "args" => args, "queue" => queue || "default")
        Sidekiq.redis { |conn| conn.hset(key, "last_enqueue_time", time.utc.strftime("%Y-%m-%d %H:%M:%S %z")) }
        jid
      end

      def last_enqueue_time
        stamp = Sidekiq.redis { |conn| conn.hget(key, "last_enqueue_time") }
        stamp && !stamp.empty? ? Time.parse(stamp) : nil
      end

      def key
        self.class.key_for(name)
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
        { "name" => name, "namespace" => NAMESPACE, "klass" => klass, "cron" => cron,
          "description" => description, "source" => source, "args" => Sidekiq.dump_json(args),
          "status" => status, "queue" => queue.to_s }
      end

      def schedule_entry
        entry = { "cron" => cron, "class" => klass, "args" => args, "description" => description }
        queue ? entry.merge("queue" => queue) : entry
      end
    end
  end
end
