# frozen_string_literal: true

module Sidekiq
  module Metrics
    # The execution-time histogram as Sidekiq 7 stores it (docs/wire-format.md §14): per class
    # and UTC minute, one string key of 26 unsigned 16-bit counters, one per duration bucket.
    # Ferrokiq's engine writes it (core/src/server/metrics_store.rs); this side only reads.
    class Histogram
      # Each bucket's exclusive upper bound in milliseconds; the last one catches the rest.
      BUCKET_INTERVALS = [
        20, 30, 45, 65, 100, 150, 225, 335, 500, 750, 1_100, 1_700, 2_500, 3_800, 5_750,
        8_500, 13_000, 20_000, 30_000, 45_000, 65_000, 100_000, 150_000, 225_000, 335_000, 1e20
      ].freeze

      # A short name per bucket, from its bound: milliseconds under a second, else seconds.
      LABELS = BUCKET_INTERVALS.map do |limit|
        if limit >= 1e20
          "Slow"
        elsif limit < 1_000
          "#{limit}ms"
        else
          "#{format("%g", limit / 1_000.0)}s"
        end
      end.freeze

      # BITFIELD_RO arguments reading every counter in bucket order.
      FETCH = BUCKET_INTERVALS.each_index.flat_map { |index| ["GET", "u16", "##{index}"] }.freeze
      HISTOGRAM_TTL = 8 * 60 * 60

      def self.key(klass, time)
        "#{klass}-#{time.utc.strftime("%d-%H:%-M")}"
      end

      def initialize(klass)
        @klass = klass
      end

      def label(index)
        LABELS[index]
      end

      # The counters of one minute, fastest bucket first.
      def fetch(conn, now = Time.now)
        conn.bitfield_ro(self.class.key(@klass, now), *FETCH)
      end
    end
  end
end
