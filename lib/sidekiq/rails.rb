# frozen_string_literal: true

require "rails"
require "sidekiq"
require "sidekiq/active_job"

module Sidekiq
  # The Rails integration, loaded with `require "sidekiq"` in a Rails app (and by the CLI before
  # it boots one): Sidekiq's options on Active Job classes, each job run inside the app's
  # reloader, Rails' backtrace cleaner for stored backtraces, and `Rails.logger` lines in the
  # server's log. Only a server process is changed; one that merely enqueues keeps its settings.
  class Rails < ::Rails::Railtie
    # The server's `config[:reloader]` in a Rails app: each job becomes one unit of work for the
    # app, so the executor returns database connections to the pool when it ends and, in
    # development, code changed since the previous job is reloaded before it starts.
    class Reloader
      # The error reporter's name for failures inside a job (Rails 7.1+).
      SOURCE = { source: "job.sidekiq" }.freeze

      attr_reader :app

      def initialize(app = ::Rails.application)
        @app = app
      end

      def call(&job)
        app.reloader.wrap(**wrap_options, &job)
      end

      # The application object is large and refers back to itself; printing or dumping the
      # server's options (ActiveSupport's `as_json` goes through `to_hash`) names its class only.
      def to_hash
        { app: app.class.name }
      end

      def inspect
        "#<#{self.class.name} app=#{app.class.name}>"
      end

      private

      # Since Rails 7.1 a wrap takes a `source:`, which the error reporter passes on to its
      # subscribers; earlier reloaders take no arguments at all. Decided on the first job, when
      # the app's reloader is certain to exist.
      def wrap_options
        @wrap_options ||= begin
          accepted = app.reloader.method(:wrap).parameters
          accepted.any? { |kind, name| kind == :keyrest || name == :source } ? SOURCE : {}
        end
      end
    end

    # An initializer runs before the app's config/initializers, so one of those can still
    # install a cleaner of its own.
    initializer "sidekiq.backtrace_cleaner" do
      Sidekiq.configure_server do |sidekiq|
        sidekiq[:backtrace_cleaner] = Sidekiq::Rails.method(:clean_backtrace)
      end
    end

    # The reloader and the logger are only final once every initializer has run.
    config.after_initialize do
      Sidekiq.configure_server { |sidekiq| Sidekiq::Rails.prepare_server(sidekiq) }
    end

    class << self
      def prepare_server(sidekiq)
        sidekiq[:reloader] = Reloader.new
        send_rails_logs_to(sidekiq.logger)
      end

      # Looked up on every call: the app may swap or reconfigure Rails' cleaner after boot.
      def clean_backtrace(lines)
        ::Rails.backtrace_cleaner.clean(lines)
      end

      # Copies `Rails.logger` lines (from job code, Active Record, Active Job) into the server's
      # log, unless Rails already logs there.
      def send_rails_logs_to(logger)
        rails_logger = ::Rails.logger
        return if rails_logger.nil? || rails_logger == logger
        return if ::ActiveSupport::Logger.logger_outputs_to?(rails_logger, $stdout)

        add_sink(rails_logger, logger)
      end

      private

      # Rails 7.1 turned Rails.logger into a BroadcastLogger that takes extra sinks; older
      # Rails copy lines only through a module mixed into the logger.
      def add_sink(source, sink)
        return source.broadcast_to(sink) if source.respond_to?(:broadcast_to)

        source.extend(::ActiveSupport::Logger.broadcast(sink))
      end
    end
  end
end
