# frozen_string_literal: true

# What the demo's server loads (`-r ./examples/demo/server.rb`): the job classes, and a server
# middleware that counts the jobs this process ran. Sidekiq's stats counters (stat:processed,
# stat:failed) are shared by every server on a Redis; with this count the demo can take back
# out exactly its own share when it cleans up, and leave anyone else's.

require_relative "jobs"

module Demo
  # Counts every job run by this process, and how many of them failed, as the server's own
  # stats do; writes the count to the demo's state when the process exits.
  class Tally
    @lock = Mutex.new
    @counts = { "processed" => 0, "failed" => 0 }

    class << self
      def count(failed:)
        @lock.synchronize do
          @counts["processed"] += 1
          @counts["failed"] += 1 if failed
        end
      end

      def save
        Demo.save("tally", @lock.synchronize { @counts.dup })
      end
    end

    def call(_job, _payload, _queue)
      finished = false
      yield
      finished = true
    ensure
      Tally.count(failed: !finished)
    end
  end
end

Sidekiq.configure_server do |config|
  config.server_middleware { |chain| chain.add(Demo::Tally) }
end

at_exit { Demo::Tally.save }
