# frozen_string_literal: true

require "securerandom"

module Sidekiq
  class Web
    # Headers every response carries (assets too), and the per-request CSP nonce. It is the
    # outermost layer of the UI's stack, so it also puts every response (the UI's pages, its
    # assets, and what middlewares added with Sidekiq::Web.use answer) into a shape both Rack 2.2
    # and Rack 3 accept: see .normalize.
    class Headers
      NONCE_KEY = "sidekiq.web.csp_nonce"
      # Rack 3 takes a header's several values as an Array of Strings; Rack 2.2 as one String
      # with a line per value.
      LIST_VALUES = Gem::Version.new(Rack.release) >= Gem::Version.new("3")

      # Everything comes from this origin; scripts and style sheets also need the request's
      # nonce, so injected markup cannot run or restyle anything.
      def self.content_security_policy(nonce)
        ["default-src 'self'", "script-src 'self' 'nonce-#{nonce}'", "style-src 'self' 'nonce-#{nonce}'",
         "img-src 'self' data:", "font-src 'self'", "connect-src 'self'", "object-src 'none'",
         "base-uri 'self'", "form-action 'self'", "frame-ancestors 'self'"].join("; ")
      end

      def self.nonce(env)
        env[NONCE_KEY] ||= SecureRandom.base64(16)
      end

      # A fresh, unfrozen plain Hash with lower-case names, which Rack 3 requires (Rack::Lint 3
      # rejects upper-case names, HeaderHash subclasses and frozen Hashes) and Rack 2.2 reads
      # case-insensitively. A value given twice under names that differ only in case is kept
      # once, the last one winning, as HeaderHash would. Values with several entries take the
      # running Rack's form (LIST_VALUES).
      def self.normalize(headers)
        headers.each_with_object({}) do |(name, value), normalized|
          normalized[name.to_s.downcase] = normalize_value(value)
        end
      end

      def self.normalize_value(value)
        values = value.is_a?(Array) ? value.flat_map { |entry| entry.to_s.split("\n") } : value.to_s.split("\n")
        return values.join("\n") unless LIST_VALUES && values.size > 1

        values
      end

      def initialize(app)
        @app = app
      end

      def call(env)
        status, headers, body = @app.call(env)
        headers = self.class.normalize(headers)
        headers["x-content-type-options"] = "nosniff"
        [status, headers, body]
      end
    end
  end
end
