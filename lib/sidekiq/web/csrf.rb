# frozen_string_literal: true

require "securerandom"
require "base64"

module Sidekiq
  # (Sidekiq::Web: see sidekiq/web.rb.)
  class Web
    # Refuses every state-changing request (anything but GET and HEAD) that does not carry, in
    # the form or query field `authenticity_token`, a token tied to the session; also refuses
    # them all with 403 in read-only mode. Needs the host application's session.
    class Csrf
      SESSION_KEY = "csrf"
      TOKEN_FIELD = "authenticity_token"
      TOKEN_LENGTH = 32
      SAFE = %w[GET HEAD OPTIONS TRACE].freeze
      FORBIDDEN = [403, { "content-type" => "text/plain" }, ["Forbidden"]].freeze

      NO_SESSION = <<~TEXT
        Sidekiq::Web needs a session (env["rack.session"] is not set).

        In a Rails application, mount it inside `Rails.application.routes.draw` so that it shares
        the application's cookie session; an API-only Rails application must add the session
        middlewares first (config.middleware.use ActionDispatch::Cookies and
        config.middleware.use ActionDispatch::Session::CookieStore, key: "_your_app_session").

        Anywhere else (a config.ru), add a session middleware in front of it, with the same secret
        in every process:

          require "rack/session/cookie"
          require "securerandom"
          Sidekiq::Web.use Rack::Session::Cookie, secret: ENV.fetch("SESSION_SECRET"), same_site: true,
                                                  max_age: 86_400
          # SESSION_SECRET: 64 hex characters, e.g. from SecureRandom.hex(32)
          run Sidekiq::Web
      TEXT

      # A fresh masked form of the session's token (a different string on every call, so that
      # the page never repeats the secret).
      def self.token(env)
        raw = secret(env["rack.session"])
        pad = SecureRandom.random_bytes(TOKEN_LENGTH)
        Base64.urlsafe_encode64(pad + xor(pad, raw))
      end

      def self.secret(session)
        stored = session[SESSION_KEY]
        decoded = stored && Base64.strict_decode64(stored)
        return decoded if decoded&.bytesize == TOKEN_LENGTH

        fresh = SecureRandom.random_bytes(TOKEN_LENGTH)
        session[SESSION_KEY] = Base64.strict_encode64(fresh)
        fresh
      rescue ArgumentError
        session[SESSION_KEY] = nil
        retry
      end

      def self.xor(left, right)
        left.bytes.zip(right.bytes).map { |a, b| a ^ b }.pack("C*")
      end

      # Whether +token+ (masked or not) is the session's.
      def self.valid?(session, token)
        return false unless token.is_a?(String) && session[SESSION_KEY]

        decoded = Base64.urlsafe_decode64(token)
        raw = case decoded.bytesize
              when TOKEN_LENGTH then decoded
              when 2 * TOKEN_LENGTH then xor(decoded[0, TOKEN_LENGTH], decoded[TOKEN_LENGTH..])
              else return false
              end
        Rack::Utils.secure_compare(raw, secret(session))
      rescue ArgumentError
        false
      end

      def initialize(app)
        @app = app
      end

      def call(env)
        session = env["rack.session"]
        return [500, { "content-type" => "text/plain" }, [NO_SESSION]] unless session
        return @app.call(env) if SAFE.include?(env["REQUEST_METHOD"])
        return FORBIDDEN.dup if Web.read_only?(env)
        return @app.call(env) if self.class.valid?(session, Rack::Request.new(env).params[TOKEN_FIELD])

        warn_attack(env)
        FORBIDDEN.dup
      end

      private

      def warn_attack(env)
        message = "attack prevented by #{self.class}: #{env["REQUEST_METHOD"]} #{env["PATH_INFO"]}"
        if env["rack.logger"]
          env["rack.logger"].warn(message)
        else
          env["rack.errors"]&.puts(message)
        end
      end
    end

    # Read-only for this request: the class switch or the env key the app's auth sets.
    def self.read_only?(env = nil)
      read_only || (env && env[READ_ONLY_ENV] ? true : false)
    end
  end
end
