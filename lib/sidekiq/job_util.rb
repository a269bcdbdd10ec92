# frozen_string_literal: true

module Sidekiq
  # Validation and normalization of job hashes before they are pushed (Sidekiq 7 semantics).
  module JobUtil
    # Keys that never reach Redis. Not frozen: Sidekiq.transactional_push! (and plugins) add to it.
    TRANSIENT_ATTRIBUTES = %w[] # rubocop:disable Style/MutableConstant
    RETRY_FOR_LIMIT = 1_000_000_000

    def validate(item)
      validate_shape(item)
      validate_options(item)
    end

    def validate_shape(item)
      unless item.is_a?(Hash) && item.key?("class") && item.key?("args")
        raise ArgumentError, "Job must be a Hash with 'class' and 'args' keys: `#{item}`"
      end
      unless item["args"].is_a?(Array) || item["args"].is_a?(Enumerator::Lazy)
        raise ArgumentError, "Job args must be an Array: `#{item}`"
      end
      return if item["class"].is_a?(Class) || item["class"].is_a?(String)

      raise ArgumentError, "Job class must be either a Class or String representation of the class name: `#{item}`"
    end

    def validate_options(item)
      if item.key?("at") && !item["at"].is_a?(Numeric)
        raise ArgumentError, "Job 'at' must be a Numeric timestamp: `#{item}`"
      end
      raise ArgumentError, "Job tags must be an Array: `#{item}`" if item["tags"] && !item["tags"].is_a?(Array)
      return unless item["retry_for"] && item["retry_for"] > RETRY_FOR_LIMIT

      raise ArgumentError, "retry_for must be a relative amount of time, e.g. 48.hours `#{item}`"
    end

    # Raises (or warns, per `Sidekiq.strict_args!`) when the job's args are not native JSON
    # types. The walk runs in Rust.
    def verify_json(item)
      verify_args(item["wrapped"] || item["class"], item["args"])
    end

    # The same check for +args+ (one job's, or a bulk slice of them) of +job_class+.
    def verify_args(job_class, args)
      return unless complex_arguments_checked?

      unsafe_item = Ferrokiq::Native.json_unsafe(args)
      return if unsafe_item.nil?

      msg = <<~MESSAGE
        Job arguments to #{job_class} must be native JSON types, but #{unsafe_item.inspect} is a #{unsafe_item.class}.
        See https://github.com/sidekiq/sidekiq/wiki/Best-Practices
        To disable this error, add `Sidekiq.strict_args!(false)` to your initializer.
      MESSAGE
      raise ArgumentError, msg if Sidekiq::Config::DEFAULTS[:on_complex_arguments] == :raise

      warn(msg)
    end

    # Whether pushes check that arguments are native JSON types (`strict_args!`, raising or
    # warning).
    def complex_arguments_checked?
      %i[raise warn].include?(Sidekiq::Config::DEFAULTS[:on_complex_arguments])
    end

    # The job as it will be stored: class options merged under the item's own keys, `class`
    # and `queue` as Strings, a jid and `created_at`.
    def normalize_item(item)
      validate(item)
      item = defaults_for(item).merge(item)

      raise ArgumentError, "Job must include a valid queue name" if item["queue"].nil? || item["queue"] == ""

      TRANSIENT_ATTRIBUTES.each { |key| item.delete(key) }
      item["jid"] ||= Ferrokiq::Native.jid
      item["class"] = item["class"].to_s
      item["queue"] = item["queue"].to_s
      item["retry_for"] = item["retry_for"].to_i if item["retry_for"]
      item["created_at"] ||= Time.now.to_f
      item
    end

    # The class's sidekiq_options (or the defaults for a class name), plus those of the
    # wrapped Active Job class.
    def defaults_for(item)
      defaults = normalized_hash(item["class"])
      wrapped = item["wrapped"]
      wrapped.respond_to?(:get_sidekiq_options) ? defaults.merge(wrapped.get_sidekiq_options) : defaults
    end

    def normalized_hash(item_class)
      if item_class.is_a?(Class)
        unless item_class.respond_to?(:get_sidekiq_options)
          raise ArgumentError,
                "Message must include a Sidekiq::Job class, not class name: #{item_class.ancestors.inspect}"
        end

        item_class.get_sidekiq_options
      else
        Sidekiq.default_job_options
      end
    end
  end
end
