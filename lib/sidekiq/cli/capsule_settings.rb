# frozen_string_literal: true

module Sidekiq
  class CLI
    # sidekiq.yml's `capsules:` section, as Sidekiq 7 reads it, and the startup lines that show
    # the capsules besides the default one:
    #
    #   :capsules:
    #     single:
    #       :concurrency: 1
    #       :queues: [serial]
    module CapsuleSettings
      module_function

      # Declares each capsule of `settings` (name => {concurrency:, queues:}) on `config`;
      # raises UsageError for a section that is not such a Hash.
      def declare(config, settings)
        return if settings.nil?
        raise UsageError, "capsules: expected a Hash of name => {concurrency:, queues:}" unless settings.is_a?(Hash)

        settings.each do |name, capsule|
          threads, queues = capsule.is_a?(Hash) ? capsule.values_at(:concurrency, :queues) : []
          unless threads.to_i.positive? && !Array(queues).empty?
            raise UsageError, "capsules: #{name} needs a concurrency of 1 or more and at least one queue"
          end

          config.capsule(name) do |cap|
            cap.concurrency = threads
            cap.queues = queues
          end
        end
      end

      # One line per capsule besides the default one (declared in the file or by the app's
      # configure_server block, which has run by the time the server logs them).
      def describe(config)
        config.capsules.each_value.filter_map do |cap|
          next if cap.equal?(config.default_capsule)

          "Capsule #{cap.name}: #{cap.concurrency} threads, queues #{cap.queue_names.join(", ")}"
        end
      end
    end
  end
end
