# frozen_string_literal: true

# One Web UI served by Puma (one thread) on 127.0.0.1:PORT, for bench/web.rb: Ferrokiq's when
# run with `-I lib`, Debian's Sidekiq 6.4.1 otherwise. Both sit behind the same cookie session
# (their CSRF checks need one) and Rack::Runtime, whose X-Runtime header is the server time
# the benchmark reports. Prints one JSON line naming what it serves once it listens.

require "json"
require "rack"
require "rack/session/cookie"
require "rack/handler/puma"
require "sidekiq/web"

port = Integer(ENV.fetch("PORT"))
secret = "b" * 64
app = Rack::Builder.new do
  use Rack::Runtime
  use Rack::Session::Cookie, secret: secret, same_site: true
  run Sidekiq::Web
end

served = defined?(Ferrokiq) ? "ferrokiq" : "sidekiq #{Sidekiq::VERSION}"
Rack::Handler::Puma.run(app, Host: "127.0.0.1", Port: port, Threads: "1:1", Silent: true) do |_launcher|
  $stdout.puts JSON.generate("serves" => served)
  $stdout.flush
end
