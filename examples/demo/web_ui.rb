# frozen_string_literal: true

# Ferrokiq's Web UI over the demo's Redis (`bin/demo --web`): WEBrick on 127.0.0.1, on $PORT or a
# free port, serving Sidekiq::Web as a config.ru would (behind a cookie session, which its forms
# need), until Ctrl-C.

require "rack"
require "rack/session/cookie"
require "securerandom"
require "webrick"
require "sidekiq/web"
begin
  require "rack/handler/webrick"
rescue LoadError # Rack 3 moved the handlers to the rackup gem
  require "rackup/handler/webrick"
end

module Demo
  # Serves the UI in this process until INT (Ctrl-C) or TERM.
  module WebUI
    HANDLER = defined?(Rackup::Handler::WEBrick) ? Rackup::Handler::WEBrick : Rack::Handler::WEBrick
    SIGNALS = %w[INT TERM].freeze

    module_function

    # The UI behind a cookie session whose secret lives as long as this process.
    def app
      secret = SecureRandom.hex(32)
      Rack::Builder.new do
        use Rack::Session::Cookie, key: "ferrokiq.demo.session", secret:, same_site: true
        run Sidekiq::Web
      end
    end

    # Starts the server, yields its URL, and returns once a signal has stopped it.
    def serve(port: Integer(ENV.fetch("PORT", "0")))
      server = WEBrick::HTTPServer.new(BindAddress: "127.0.0.1", Port: port, Logger: WEBrick::Log.new(File::NULL),
                                       AccessLog: [])
      server.mount("/", HANDLER, app)
      previous = SIGNALS.to_h { |signal| [signal, trap(signal) { server.shutdown }] }
      yield "http://127.0.0.1:#{server.config[:Port]}/"
      server.start
    ensure
      previous&.each { |signal, handler| trap(signal, handler) }
      server&.shutdown
    end
  end
end
