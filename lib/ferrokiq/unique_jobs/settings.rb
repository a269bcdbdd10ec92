# frozen_string_literal: true

module Ferrokiq
  # Unique jobs, built in (docs/design.md, §24).
  module UniqueJobs
    # The global settings sidekiq-unique-jobs 8 reads from `SidekiqUniqueJobs.configure`, with
    # the plugin's defaults except `lock_ttl`: the plugin's locks never expire by default, ours
    # do after a day, so a lock nobody releases cannot block its job forever (docs/design.md, §24).
    class Settings
      DEFAULT_LOCK_TTL = 86_400

      attr_accessor :enabled, :lock_timeout, :lock_ttl, :lock_prefix, :on_conflict, :logger_enabled,
                    :reaper, :reaper_count, :reaper_interval, :reaper_grace, :max_history, :debug_lua,
                    :lock_info, :digest_algorithm, :reaper_timeout, :reaper_resurrector_enabled,
                    :reaper_resurrector_interval, :raise_on_config_error

      def initialize
        @enabled = true
        @lock_timeout = 0
        @lock_ttl = DEFAULT_LOCK_TTL
        @lock_prefix = "uniquejobs"
        @on_conflict = nil
        @logger_enabled = true
        @reaper = :ruby
        @reaper_count = 1000
        @reaper_interval = 600
        # Ferrokiq's own: how old a lock must be before the reaper looks at it. It covers the
        # moments a live job is in no Redis key (between lock and push; fetched by basic fetch
        # before the next heartbeat writes its work record).
        @reaper_grace = 60
        @reaper_timeout = 10
        @max_history = 1000
        @debug_lua = false
        @lock_info = false
        @digest_algorithm = :legacy
        @reaper_resurrector_enabled = false
        @reaper_resurrector_interval = 3600
        @raise_on_config_error = false
        @logger = nil
      end

      # Sidekiq's logger unless the app set one.
      def logger
        @logger || Sidekiq.logger
      end

      attr_writer :logger

      # Whether the reaper runs at all: the plugin turns it off for anything but :ruby or :lua.
      def reaper?
        %i[ruby lua].include?(@reaper&.to_sym)
      end
    end

    def self.settings
      @settings ||= Settings.new
    end

    # Tests and `SidekiqUniqueJobs.config.reset!`-style code start from the defaults again.
    def self.reset_settings!
      @settings = Settings.new
    end
  end
end
