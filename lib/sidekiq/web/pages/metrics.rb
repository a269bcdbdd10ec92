# frozen_string_literal: true

require "sidekiq/metrics/query"

module Sidekiq
  class Web
    module Pages
      # `/metrics`: per job class, what ran, failed and how long it took over the last hours,
      # with a chart of the busiest classes; `/metrics/:name`: one class's execution-time
      # histogram and its per-minute counts. Data: Sidekiq 7's metrics keys, read through
      # Sidekiq::Metrics::Query (docs/wire-format.md §14). Charts are drawn by metrics.js from
      # the JSON in each chart's data-chart attribute; the tables hold the same numbers.
      module Metrics
        # `period` choices => minutes, as in Sidekiq 7.3; the first is the default.
        PERIODS = { "1h" => 60, "2h" => 120, "4h" => 240, "8h" => 480 }.freeze
        # Classes listed, and drawn on the overview chart by default, busiest first.
        TABLE_LIMIT = 20
        CHART_LIMIT = 5

        # Helpers for the metrics pages.
        module Helpers
          def metrics_periods
            PERIODS
          end

          # The requested period if it is one of PERIODS, else the default.
          def metrics_period
            period = params["period"]
            PERIODS.key?(period) ? period : PERIODS.keys.first
          end

          # The `substr` filter as a case-insensitive Regexp matching it literally, or nil.
          def metrics_class_filter(substr)
            Regexp.new(Regexp.escape(substr), Regexp::IGNORECASE) unless substr.empty?
          end

          def metrics_path(name = nil, period = @period)
            base = name ? "#{root_path}metrics/#{ERB::Util.url_encode(name)}" : "#{root_path}metrics"
            "#{base}?period=#{ERB::Util.url_encode(period)}"
          end

          # [class, JobResult] pairs, most total execution time first.
          def busiest(job_results)
            job_results.sort_by { |klass, result| [-result.totals["s"], -result.totals["p"], klass] }
                       .first(TABLE_LIMIT)
          end

          # Jobs per histogram bucket over the whole window, fastest bucket first (the query
          # gives each minute's counters slowest first, as Sidekiq 7's does).
          def histogram_totals(job)
            totals = Array.new(Sidekiq::Metrics::Histogram::BUCKET_INTERVALS.size, 0)
            job.hist.each_value do |counters|
              counters.reverse.each_with_index { |count, index| totals[index] += count.to_i }
            end
            totals
          end

          def seconds(value)
            format("%.2f", value)
          end

          # The chart's JSON for a data-chart attribute (the caller escapes it with h).
          def chart_json(kind, data)
            Sidekiq.dump_json(data.merge(kind:))
          end

          def marks_data(result)
            result.marks.map { |mark| { at: mark.bucket, label: mark.label } }
          end
        end

        def self.registered(app)
          app.helpers(Helpers)

          app.get("/metrics") do
            @period = metrics_period
            @substr = params["substr"].is_a?(String) ? params["substr"] : ""
            query = Sidekiq::Metrics::Query.new
            @result = query.top_jobs(minutes: PERIODS.fetch(@period), class_filter: metrics_class_filter(@substr))
            @rows = busiest(@result.job_results)
            erb(:metrics)
          end

          app.get("/metrics/:name") do
            @period = metrics_period
            @name = route_params(:name)
            @result = Sidekiq::Metrics::Query.new.for_job(@name, minutes: PERIODS.fetch(@period))
            @job = @result.job_results[@name]
            erb(:metrics_for_job)
          end
        end
      end
    end
  end
end
