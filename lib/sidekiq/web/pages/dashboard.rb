# frozen_string_literal: true

module Sidekiq
  class Web
    module Pages
      # `/`: the summary, the realtime and history charts and Redis's health; `/stats` and
      # `/stats/queues`: the same as JSON, with Sidekiq 7.3's keys, for pollers.
      module Dashboard
        # The history chart's spans (links on the page); any `days` in DAYS_ALLOWED is accepted.
        HISTORY_SPANS = [7, 30, 90, 180].freeze
        DEFAULT_DAYS = 30
        # Sidekiq answers 401 outside this range (its fix for CVE-2022-23837: a huge `days` made
        # one request read years of keys), and so do we.
        DAYS_ALLOWED = (1..180)

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

          # The `days` the history chart covers: the param as Sidekiq reads it (`to_i`, so junk
          # is 0) or the default; outside DAYS_ALLOWED the request ends with 401.
          def history_days
            days = (params["days"] || DEFAULT_DAYS).to_s.to_i
            halt(401) unless DAYS_ALLOWED.cover?(days)
            days
          end

          # The history chart's data, oldest day first: { days:, dates:, processed:, failed: }.
          def history_series(days)
            history = Sidekiq::Stats::History.new(days)
            dates = history.processed.keys.reverse
            { days:, dates:, processed: history.processed.values_at(*dates),
              failed: history.failed.values_at(*dates) }
          end
        end

        def self.registered(app)
          app.helpers(Helpers)
          app.head("/") { Sidekiq.redis { |conn| conn.call("LLEN", "queue:default") }.to_s }

          app.get("/") do
            @history = history_series(history_days)
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
