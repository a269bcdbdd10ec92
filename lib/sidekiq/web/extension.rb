# frozen_string_literal: true

module Sidekiq
  class Web
    # A route serving a Rack application's response, registered as an extension:
    # `Sidekiq::Web.register(Sidekiq::WebAction.new(:get, "/custom_stats", rack_app))` (with
    # `Sidekiq::Web.tabs["Custom Stats"] = "custom_stats"` for a tab). The Rack app gets the
    # request's env and answers with its own [status, headers, body].
    class CallableRoute
      attr_reader :verb, :path, :app

      def initialize(verb, path, app = nil, &block)
        @verb = verb.to_s.upcase
        @path = path.to_s
        @app = app || block
        unless @app.respond_to?(:call)
          raise ArgumentError,
                "#{@verb} #{@path}: a route needs a Rack app (responding to call)"
        end
        raise ArgumentError, "unknown HTTP verb #{verb}" unless Router::VERBS.include?(@verb)
      end

      def registered(app)
        rack_app = @app
        app.public_send(@verb.downcase, @path) { rack_app.call(env) }
      end
    end
  end
end
