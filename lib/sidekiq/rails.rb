# frozen_string_literal: true

require "rails"
require "sidekiq"
require "sidekiq/active_job"

module Sidekiq
  # The Rails integration, loaded with `require "sidekiq"` in a Rails app (and by the CLI before
  # it boots one): Sidekiq's options on Active Job classes, each job run inside the app's
  # reloader, Rails' backtrace cleaner for stored backtraces, and `Rails.logger` lines in the
  # server's log.
  class Rails < ::Rails::Railtie
    # Runs each job as one unit of work for Rails: the executor hands database connections back
    # to the pool afterwards, and in development changed code is reloaded before the job.
    class Reloader
      def initialize(app = ::Rails.application)
        @app = app
      end

      def call(&block)
        # Rails 7.1 added a `source` label for its error reporter; 6.1 and 7.0 take none.
        options = ::Rails.gem_version >= Gem::Version.new("7.1") ? { source: "job.sidekiq" } : {}
        @app.reloader.wrap(**options, &block)
      end

      def inspect
        "#<#{self.class.name} @app=#{@app.class.name}>"
      end

      def to_hash
        { app: @app.class.name }
      end
    end

    initializer "sidekiq.backtrace_cleaner" do
      Sidekiq.configure_server do |config|
        config[:backtrace_cleaner] = ->(backtrace) { ::Rails.backtrace_cleaner.clean(backtrace) }
      end
    end

    # After every initializer, just before the CLI starts the server: nothing here matters in
    # a process that only enqueues.
    config.after_initialize do
      Sidekiq.configure_server do |config|
        config[:reloader] = Sidekiq::Rails::Reloader.new
        Sidekiq::Rails.send_rails_logs_to(config.logger)
      end
    end

    # Copies `Rails.logger` lines (from job code, Active Record, Active Job) into the server's
    # log, unless Rails already logs there.
    def self.send_rails_logs_to(logger)
      rails_logger = ::Rails.logger
      return if rails_logger.nil? || rails_logger == logger
      return if ::ActiveSupport::Logger.logger_outputs_to?(rails_logger, $stdout)

      if rails_logger.respond_to?(:broadcast_to) # Rails 7.1+
        rails_logger.broadcast_to(logger)
      else
        rails_logger.extend(::ActiveSupport::Logger.broadcast(logger))
      end
    end
  end
end
