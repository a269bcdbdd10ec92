# frozen_string_literal: true

require "sidekiq"

# Run by the Ferrokiq instance embedded in each Puma worker: records who it greeted and which
# process did it, for `GET /` to show.
class GreetingJob
  include Sidekiq::Job

  def perform(name)
    Sidekiq.redis { |conn| conn.call("RPUSH", "greetings", "hello #{name} from pid #{Process.pid}") }
  end
end
