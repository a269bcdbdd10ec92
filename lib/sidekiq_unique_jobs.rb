# frozen_string_literal: true

require "sidekiq"
require "ferrokiq/unique_jobs"

# sidekiq-unique-jobs' Ruby names, for apps that keep their initializer after removing the gem:
# Ferrokiq takes and releases the locks itself (docs/design.md, §24), so the middleware the
# plugin asks to add only passes jobs on, and Server.configure has nothing left to install.
module SidekiqUniqueJobs
  Conflict = Ferrokiq::UniqueJobs::Conflict

  # SidekiqUniqueJobs.configure { |config| config.lock_ttl = 3600 }
  def self.configure
    yield config
  end

  def self.config
    Ferrokiq::UniqueJobs.settings
  end

  module Middleware
    # Locks are taken in Sidekiq::Client's push; kept so `chain.add` lines still load.
    class Client
      def call(_job_class, _job, _queue, _redis_pool, &)
        yield
      end
    end

    # Locks are held around perform by the processor; kept so `chain.add` lines still load.
    class Server
      def call(_instance, _job, _queue)
        yield
      end
    end
  end

  # The plugin installs its death handler and reaper here; Ferrokiq has both built in.
  module Server
    def self.configure(_config); end
  end
end
