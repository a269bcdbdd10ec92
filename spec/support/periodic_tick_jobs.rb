# frozen_string_literal: true

# The job the periodic specs tick: each run records its label and the tick it was pushed for
# (`include_metadata`), in the `ticks` list. Source text, because the specs load it both into
# this process (to publish schedules naming it) and into the servers they start.
module PeriodicTickJobs
  SOURCE = <<~RUBY
    class TickJob
      include Sidekiq::Job
      def perform(label, metadata = {})
        Sidekiq.redis { |conn| conn.rpush("ticks", Sidekiq.dump_json([label, metadata["scheduled_at"]])) }
      end
    end
  RUBY
end
