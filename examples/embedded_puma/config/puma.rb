# frozen_string_literal: true

# Puma in cluster mode, each worker running a Ferrokiq server beside its request threads
# (Sidekiq.configure_embed, as with Sidekiq 7). The worker starts it as it boots and stops it
# once it has finished its requests, within Puma's own shutdown.
port ENV.fetch("PORT", "9292"), "127.0.0.1"
workers Integer(ENV.fetch("WEB_CONCURRENCY", "1"))
# One worker is enough for the example; Puma would suggest single mode, where these hooks don't run.
silence_single_worker_warning
threads 1, 3
# Longer than the jobs' grace period (the `timeout` below), so Puma never kills a worker whose
# jobs are still finishing.
worker_shutdown_timeout 30

sidekiq = nil

on_worker_boot do
  # The worker loads config.ru only after this hook; the job classes must be there before the
  # first job is fetched.
  require File.expand_path("../app/greeting_job", __dir__)
  sidekiq = Sidekiq.configure_embed do |config|
    config.queues = %w[default]
    config[:timeout] = 20
  end
  sidekiq.run
end

on_worker_shutdown do
  sidekiq&.stop
end
