# frozen_string_literal: true

module Sidekiq
  class Web
    # The route table: per HTTP verb, routes in registration order (the first match wins, so
    # built-in routes, registered first, cannot be overridden by extensions).
    class Router
      VERBS = %w[GET POST PUT PATCH DELETE HEAD].freeze

      # One route: a path pattern whose `:name` segments capture anything but "/", and `*`
      # anything at all.
      class Route
        attr_reader :verb, :pattern, :block

        def initialize(verb, pattern, block)
          @verb = verb
          @pattern = pattern
          @block = block
          @regexp = compile(pattern)
        end

        # The captured route params (String keys), or nil when the path does not match.
        def match(path)
          return (path == @pattern ? {} : nil) unless @regexp

          found = @regexp.match(path)
          found&.named_captures
        end

        private

        def compile(pattern)
          return unless pattern.match?(/[:*]/)

          source = pattern.split(%r{(/)}).map do |part|
            if part.start_with?(":") then "(?<#{part[1..]}>[^/]+)"
            elsif part == "*" then ".*"
            else
              Regexp.escape(part)
            end
          end
          Regexp.new("\\A#{source.join}\\z")
        end
      end

      def initialize
        @routes = VERBS.to_h { |verb| [verb, []] }
      end

      def add(verb, path, block)
        verb = verb.to_s.upcase
        raise ArgumentError, "unknown HTTP verb #{verb}" unless @routes.key?(verb)

        route = Route.new(verb, path.start_with?("/") ? path : "/#{path}", block)
        @routes[verb] << route
        route
      end

      # [route, params] for the request, or nil. HEAD falls back to the GET routes.
      def match(verb, path_info)
        path = Rack::Utils.unescape(path_info.to_s)
        path = "/" if path.empty?
        candidates = @routes.fetch(verb, [])
        candidates += @routes["GET"] if verb == "HEAD"
        candidates.each do |route|
          params = route.match(path)
          return [route, params] if params
        end
        nil
      end
    end
  end
end
