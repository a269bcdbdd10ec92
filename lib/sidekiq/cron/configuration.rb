# frozen_string_literal: true

module Sidekiq
  # sidekiq-cron's API, built into Ferrokiq (docs/design.md, §5.1).
  module Cron
    # sidekiq-cron's settings (`Sidekiq::Cron.configure { |c| ... }`), so initializers that set
    # them keep working. Those that tune its Ruby poller (`cron_poll_interval`,
    # `cron_poll_process_count`, `reschedule_grace_period`) have nothing to act on: the Rust
    # scheduler ticks each job within milliseconds (docs/design.md, §5.1). `enabled`,
    # `cron_schedule_file` and `natural_cron_parsing_mode` are honoured.
    class Configuration
      PARSING_MODES = %i[single strict].freeze

      attr_accessor :enabled, :cron_poll_interval, :cron_schedule_file, :cron_history_size, :default_namespace,
                    :available_namespaces, :reschedule_grace_period, :cron_poll_process_count
      # :single (the default) runs the first cron a natural-language line stands for; :strict
      # refuses a line that stands for several (`every day at 18:15 and 20:45`).
      attr_reader :natural_cron_parsing_mode

      def initialize
        @enabled = true
        @cron_poll_interval = 30
        @cron_schedule_file = "config/schedule.yml"
        @cron_history_size = 10
        @default_namespace = "default"
        @available_namespaces = [@default_namespace]
        @natural_cron_parsing_mode = :single
        @reschedule_grace_period = 60
      end

      def natural_cron_parsing_mode=(mode)
        unless PARSING_MODES.include?(mode)
          raise ArgumentError, "natural_cron_parsing_mode is :single or :strict, not #{mode.inspect}"
        end

        @natural_cron_parsing_mode = mode
      end
    end

    class << self
      def configuration
        @configuration ||= Configuration.new
      end

      def configure
        yield configuration
      end

      # Back to the defaults (tests).
      def reset!
        @configuration = Configuration.new
      end
    end
  end
end
