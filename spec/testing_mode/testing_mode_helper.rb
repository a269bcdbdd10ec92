# frozen_string_literal: true

# Helper for the RSpec runs under spec/testing_mode/ (see runner.rb). Those suites require
# sidekiq/testing, which changes what every push does for the whole process, so they run in a
# process of their own, never alongside the rest of the specs, and with their own redis-server.

$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))

require_relative "../support/run_redis"
require_relative "../support/sidekiq_peer"
require_relative "../support/redis_helpers"

require "sidekiq"
require_relative "jobs"

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :random
  Kernel.srand config.seed

  config.before do
    Sidekiq.redis(&:flushdb)
    Sidekiq::Queues.clear_all
    JobLog.clear
  end

  # Each example may change the global mode and the middleware chains; the next one starts
  # from the mode the suite's require set and with empty chains.
  config.around do |example|
    mode = Sidekiq::Testing.__global_test_mode
    strict = Sidekiq::Config::DEFAULTS[:on_complex_arguments]
    example.run
  ensure
    Sidekiq::Testing.__global_test_mode = mode
    Sidekiq::Config::DEFAULTS[:on_complex_arguments] = strict
    Sidekiq::Testing.server_middleware.clear
    Sidekiq.default_configuration.client_middleware.clear
    Sidekiq.default_configuration.server_middleware.clear
  end
end
