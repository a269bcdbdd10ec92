# frozen_string_literal: true

module Sidekiq
  # Builds Redis "pools" from Sidekiq-style options (see Ferrokiq::RedisPool).
  module RedisConnection
    PROVIDER_IS_A_URL = <<~MESSAGE
      REDIS_PROVIDER should be set to the name of the variable which contains the Redis URL, not a URL itself.
      Platforms like Heroku will sell addons that publish a *_URL variable.  You need to tell Sidekiq with REDIS_PROVIDER, e.g.:

      REDISTOGO_URL=redis://somehost.example.com:6379/4
      REDIS_PROVIDER=REDISTOGO_URL
    MESSAGE

    class << self
      def create(options = {})
        opts = options.to_h.transform_keys(&:to_sym)
        opts[:url] ||= determine_redis_provider unless opts[:host] || opts[:path]
        opts.delete(:url) if opts[:url].nil?
        Ferrokiq::RedisPool.new(opts)
      end

      # The URL from the environment: the variable named by REDIS_PROVIDER, else REDIS_URL.
      def determine_redis_provider
        provider = ENV.fetch("REDIS_PROVIDER", nil)
        raise PROVIDER_IS_A_URL if provider&.include?(":")

        (provider && ENV.fetch(provider, nil)) || ENV.fetch("REDIS_URL", nil)
      end
    end
  end

  # The names Sidekiq 7 code rescues.
  class RedisClientAdapter
    BaseError = Ferrokiq::RedisError
    CommandError = Ferrokiq::CommandError
  end
end
