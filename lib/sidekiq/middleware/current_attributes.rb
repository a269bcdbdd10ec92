# frozen_string_literal: true

require "active_support"
require "active_support/current_attributes"

module Sidekiq
  # Carries ActiveSupport::CurrentAttributes (tenant, user, locale, time zone...) from the code
  # that pushes a job into the job's `perform`:
  #
  #   require "sidekiq/middleware/current_attributes"
  #   Sidekiq::CurrentAttributes.persist("Current")              # or
  #   Sidekiq::CurrentAttributes.persist(%w[Current Tenant::Current])
  #
  # The first class's attributes travel in the payload's "cattr" key, the next ones in
  # "cattr_1", "cattr_2"... as Sidekiq 7 writes them, so jobs pushed by either run on either.
  module CurrentAttributes
    # The payload key of the +index+th persisted class.
    def self.key_at(index)
      index.zero? ? "cattr" : "cattr_#{index}"
    end

    # payload key => class name, in the order given.
    def self.keyed_classes(klass_or_names)
      Array(klass_or_names).each_with_index.to_h { |klass, index| [key_at(index), klass.to_s] }
    end

    # Client middleware: stores each class's current attributes in the job.
    class Save
      include Sidekiq::ClientMiddleware

      def initialize(keyed_classes)
        @keyed_classes = keyed_classes
      end

      def call(_job_class, job, _queue, _redis_pool)
        @keyed_classes.each do |key, class_name|
          # A job pushed again (a retry, a scheduled job coming due) keeps what it was first
          # pushed with.
          next if job.key?(key)

          attributes = Object.const_get(class_name).attributes
          # Rails before 8.1 hands out its own Hash, which later assignments change.
          job[key] = attributes.dup if attributes.any?
        end
        yield
      end
    end

    # Server middleware: sets each class's attributes from the job around the rest of the chain
    # and `perform`, and resets them afterwards (CurrentAttributes.set restores the old values).
    class Load
      include Sidekiq::ServerMiddleware

      def initialize(keyed_classes)
        @keyed_classes = keyed_classes
      end

      def call(_job, payload, _queue, &block)
        saved = @keyed_classes.filter_map do |key, class_name|
          [Object.const_get(class_name), payload[key]] if payload.key?(key)
        end
        with_attributes(saved, &block)
      end

      private

      def with_attributes(saved, &block)
        return yield if saved.empty?

        (klass, attributes), *rest = saved
        klass.set(known_attributes(klass, attributes)) { with_attributes(rest, &block) }
      end

      # An attribute the class no longer has (a deploy removed it while the job waited) is
      # dropped rather than failing the job.
      def known_attributes(klass, attributes)
        attributes.to_h.select { |name, _| klass.respond_to?(:"#{name}=") }
      end
    end

    # Adds the pair of middleware to +config+ (the default configuration unless given): the
    # client side last, so that it sees what earlier middleware set; the server side first, so
    # that every other middleware already runs with the attributes set.
    def self.persist(klass_or_names, config = Sidekiq.default_configuration)
      keyed = keyed_classes(klass_or_names)
      config.client_middleware.add(Save, keyed)
      config.server_middleware.prepend(Load, keyed)
    end
  end
end
