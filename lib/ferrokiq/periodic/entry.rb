# frozen_string_literal: true

module Ferrokiq
  module Periodic
    # One schedule entry as sidekiq-scheduler's `prepare_schedule` stores it in the `schedules`
    # hash: string keys, `class` defaulting to the entry's name, `queue` taken from the job
    # class's `sidekiq_options` when the class is loaded, non-Array `args` wrapped. The Rust
    # scheduler reads these hashes (docs/design.md, §5.1). Ferrokiq adds the class's `lock` the
    # same way: the Rust scheduler cannot see the class, and the tick of a job with a lock must
    # be pushed by Ruby's client, which takes the lock.
    module Entry
      RULE_KEYS = %w[cron every at in interval].freeze
      # Keys that describe the schedule rather than the job (the rest goes into the payload), as
      # in the server's scheduler (core/src/server/periodic.rs).
      SCHEDULE_KEYS = (RULE_KEYS + %w[description enabled include_metadata date_as_argument rails_env keyword_argument
                                      name]).freeze

      module_function

      # The stored form of `config`, or nil when `rails_env` excludes this environment.
      def prepare(name, config)
        entry = stringify(config || {})
        return nil unless for_this_environment?(entry["rails_env"])

        entry["class"] ||= name.to_s
        entry["queue"] ||= class_option(entry["class"], "queue")
        entry.delete("queue") if entry["queue"].nil?
        entry["lock"] ||= class_option(entry["class"], "lock")
        entry.delete("lock") if entry["lock"].nil?
        entry["args"] = wrap_args(entry["args"]) if entry.key?("args")
        entry
      end

      # Rules are checked by the Rust parser when the scheduler reads the entry; this catches
      # the one mistake that can be seen without it: no rule at all.
      def validate!(name, entry)
        return if RULE_KEYS.any? { |key| present?(entry[key]) }

        raise ArgumentError, "schedule #{name}: needs one of #{RULE_KEYS.join(", ")}"
      end

      # The job a tick at +time+ pushes for the stored +entry+, as the server's scheduler builds
      # it, for a push outside the schedule ("Enqueue now").
      def job(name, entry, time)
        job = entry.reject { |key, _| SCHEDULE_KEYS.include?(key) }
        job["class"] ||= name.to_s
        job["args"] = case (args = entry["args"])
                      when Array then args.dup
                      when nil then []
                      else [args]
                      end
        # sidekiq-cron's `date_as_argument`: the tick's epoch seconds, a Float.
        job["args"] << time.to_f if truthy?(entry["date_as_argument"])
        job["args"] << { "scheduled_at" => time.to_f.round(3) } if truthy?(entry["include_metadata"])
        job
      end

      def truthy?(value)
        !(value.nil? || [false, "false", "0", ""].include?(value))
      end

      def stringify(value)
        case value
        when Hash then value.to_h { |key, item| [key.to_s, stringify(item)] }
        when Array then value.map { |item| stringify(item) }
        when Symbol then value.to_s
        else value
        end
      end

      def for_this_environment?(list)
        return true if list.nil? || list.to_s.empty?

        Array(list).flat_map { |item| item.to_s.split(",") }.map(&:strip).include?(ENV.fetch("RAILS_ENV", nil))
      end

      # One of the class's own sidekiq_options as a String (its queue, as the plugin infers it);
      # nil for unknown or ActiveJob classes.
      def class_option(class_name, key)
        klass = Object.const_get(class_name.to_s)
        return nil unless klass.respond_to?(:get_sidekiq_options)

        klass.get_sidekiq_options[key]&.to_s
      rescue NameError
        nil
      end

      # A Hash stays a Hash (ActiveJob keyword arguments); anything else becomes an Array.
      def wrap_args(args)
        args.is_a?(Hash) ? args : Array(args)
      end

      def present?(value)
        !(value.nil? || (value.respond_to?(:empty?) && value.empty?))
      end
    end
  end
end
