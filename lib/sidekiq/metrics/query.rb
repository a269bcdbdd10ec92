# frozen_string_literal: true

require "sidekiq"
require "time"
require "sidekiq/metrics/shared"

module Sidekiq
  module Metrics
    # Sidekiq 7's Metrics API: reads the per-minute execution metrics the server records
    # (docs/wire-format.md §14) for the last N minutes, in UTC, in one pipelined round trip.
    #
    #   q = Sidekiq::Metrics::Query.new
    #   q.top_jobs(minutes: 120, class_filter: /mailer/i).job_results  # class => JobResult
    #   q.for_job("HardJob").job_results["HardJob"].hist                # "HH:MM" => 26 counts
    class Query
      def initialize(pool: nil, now: Time.now)
        @pool = pool || Sidekiq.redis_pool
        @time = now.utc
      end

      # Every class's counts per minute; +class_filter+ (anything with `match?`, usually a
      # Regexp) keeps the matching class names only.
      def top_jobs(class_filter: nil, minutes: 60, hours: nil)
        minutes = window_minutes(minutes, hours)
        result = Result.new(minutes_back(minutes))
        replies = read(result) { |pipe, time| pipe.hgetall(Query.counts_key(time)) }
        replies.zip(result.times).each do |fields, time|
          fields.each do |field, value|
            klass, _, metric = field.rpartition("|")
            next if class_filter && !class_filter.match?(klass)

            result.job_results[klass].add_metric(metric, time, value.to_i)
          end
        end
        result
      end

      # One class's counts and histogram per minute.
      def for_job(klass, minutes: 60, hours: nil)
        minutes = window_minutes(minutes, hours)
        histogram = Histogram.new(klass)
        result = Result.new(minutes_back(minutes))
        replies = read(result) do |pipe, time|
          pipe.hmget(Query.counts_key(time), "#{klass}|ms", "#{klass}|p", "#{klass}|f")
          histogram.fetch(pipe, time)
        end
        job = result.job_results[klass]
        replies.each_slice(2).zip(result.times).each do |(counts, hist), time|
          %w[ms p f].zip(counts).each { |metric, value| job.add_metric(metric, time, value.to_i) if value }
          job.add_hist(time, hist.reverse)
        end
        result
      end

      # `j|YYYYMMDD|H:M`, hour and minute without leading zeros.
      def self.counts_key(time)
        "j|#{time.strftime("%Y%m%d")}|#{time.hour}:#{time.min}"
      end

      # The query's window and its results: +buckets+ are the minutes ("HH:MM") oldest first,
      # +job_results+ a JobResult per class, +marks+ the deploy marks within the window.
      # (`size` is 7.3's member name, so it replaces Struct#size there too.)
      Result = Struct.new(:starts_at, :ends_at, :size, :buckets, :job_results, :marks) do # rubocop:disable Lint/StructNewOverride
        # +times+: the window's minutes, newest first (the order they are read in).
        def initialize(times = [])
          super(times.last, times.first, times.size, times.reverse.map { |t| t.strftime("%H:%M") },
                Hash.new { |results, klass| results[klass] = JobResult.new }, [])
          @times = times
        end

        attr_reader :times
      end

      # One class's numbers: +series+ metric => { "HH:MM" => value }, +totals+ metric => sum,
      # +hist+ "HH:MM" => 26 counters, slowest bucket first. Metrics: "p" (processed), "f"
      # (failed), "ms" (milliseconds of the successful jobs) and "s" (the same in seconds).
      JobResult = Struct.new(:series, :hist, :totals) do
        def initialize
          super(Hash.new { |series, metric| series[metric] = Hash.new(0) }, Hash.new { |h, k| h[k] = [] }, Hash.new(0))
        end

        def add_metric(metric, time, value)
          totals[metric] += value
          series[metric][time.strftime("%H:%M")] += value
          add_metric("s", time, value / 1000.0) if metric == "ms"
        end

        def add_hist(time, counters)
          hist[time.strftime("%H:%M")] = counters
        end

        # Per successful job: failures are not timed.
        def total_avg(metric = "ms")
          succeeded = totals["p"] - totals["f"]
          succeeded.zero? ? 0 : totals[metric].to_f / succeeded
        end

        def series_avg(metric = "ms")
          series[metric].to_h do |minute, value|
            succeeded = series["p"][minute] - series["f"][minute]
            [minute, succeeded.zero? ? 0 : value.to_f / succeeded]
          end
        end
      end

      # A deploy mark (see Sidekiq::Deploy): when, and what was deployed.
      MarkResult = Struct.new(:time, :label) do
        def bucket
          time.strftime("%H:%M")
        end
      end

      private

      def window_minutes(minutes, hours)
        hours ? Integer(hours) * 60 : Integer(minutes)
      end

      def minutes_back(count)
        Array.new(count) { |index| @time - (index * 60) }
      end

      # Yields the pipeline and each minute of +result+, newest first, and reads the deploy
      # marks of the days the window covers in the same round trip (into +result.marks+).
      # Returns the per-minute replies.
      def read(result)
        days = result.times.map { |time| time.strftime("%Y%m%d") }.uniq
        replies = @pool.with do |conn|
          conn.pipelined do |pipe|
            result.times.each { |time| yield pipe, time }
            days.each { |day| pipe.hgetall("#{day}-marks") }
          end
        end
        result.marks = marks_within(replies.pop(days.size), result.starts_at..result.ends_at)
        replies
      end

      def marks_within(days, window)
        days.flat_map do |marks|
          marks.filter_map do |stamp, label|
            time = Time.parse(stamp)
            MarkResult.new(time, label) if window.cover?(time)
          rescue ArgumentError
            nil # not a time: no mark Sidekiq::Deploy wrote
          end
        end.sort_by(&:time)
      end
    end
  end
end
