# frozen_string_literal: true

require "securerandom"

module Sidekiq
  class Web
    # Headers every response carries (assets too), and the per-request CSP nonce.
    class Headers
      NONCE_KEY = "sidekiq.web.csp_nonce"

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

      def initialize(app)
        @app = app
      end

      def call(env)
        status, headers, body = @app.call(env)
        headers = Rack::Utils::HeaderHash[headers]
        headers["X-Content-Type-Options"] = "nosniff"
        [status, headers, body]
      end
    end
  end
end
