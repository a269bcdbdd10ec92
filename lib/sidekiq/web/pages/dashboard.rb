# frozen_string_literal: true

module Sidekiq
  class Web
    module Pages
      # `/`: the summary and Redis's health; `/stats` and `/stats/queues`: the same as JSON,
      # with Sidekiq 7.3's keys, for pollers.
      module Dashboard
        # Helpers for the dashboard and the stats endpoints.
        module Helpers
          # Sidekiq 7.3's /stats document.
          def stats_payload
            stats.fetch_stats!
            { sidekiq: { processed: stats.processed, failed: stats.failed, busy: stats.workers_size,
                         processes: stats.processes_size, enqueued: stats.enqueued,
                         scheduled: stats.scheduled_size, retries: stats.retry_size, dead: stats.dead_size,
                         default_latency: stats.default_queue_latency },
              redis: redis_info, server_utc_time: }
          end
        end

        def self.registered(app)
          app.helpers(Helpers)
          app.head("/") { Sidekiq.redis { |conn| conn.call("LLEN", "queue:default") }.to_s }

          app.get("/") do
            @redis_info = redis_info
            erb(:dashboard)
          end

          stats_routes(app)
        end

        def self.stats_routes(app)
          app.get("/dashboard/stats") { redirect("#{root_path}stats") }

          app.get("/stats") { json(stats_payload) }

          app.get("/stats/queues") { json(stats.queues) }
        end
      end
    end
  end
end
