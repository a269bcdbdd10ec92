# frozen_string_literal: true

require "i18n"

module Sidekiq
  module Middleware
    # Runs each job in the locale that was current when it was pushed (the payload's "locale"):
    # `require "sidekiq/middleware/i18n"` in an initializer installs it.
    module I18n
      # Stores the current locale in the job, unless the job already has one.
      class Client
        include Sidekiq::ClientMiddleware

        def call(_job_class, job, _queue, _redis_pool)
          job["locale"] ||= ::I18n.locale
          yield
        end
      end

      # Sets the job's locale (the default locale when it has none) around its execution.
      class Server
        include Sidekiq::ServerMiddleware

        def call(_job, payload, _queue, &)
          ::I18n.with_locale(payload.fetch("locale", ::I18n.default_locale), &)
        end
      end
    end
  end
end

# Jobs pushed from jobs carry the locale too, so the server gets the client side as well.
Sidekiq.configure_client do |config|
  config.client_middleware { |chain| chain.add(Sidekiq::Middleware::I18n::Client) }
end

Sidekiq.configure_server do |config|
  config.client_middleware { |chain| chain.add(Sidekiq::Middleware::I18n::Client) }
  config.server_middleware { |chain| chain.add(Sidekiq::Middleware::I18n::Server) }
end
