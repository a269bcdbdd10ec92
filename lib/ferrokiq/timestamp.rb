# frozen_string_literal: true

require "date"

module Ferrokiq
  # Job timestamps (`created_at`, `enqueued_at`, `failed_at`, `retried_at`) as every Sidekiq
  # writes them: 6.4 and 7 write Float epoch seconds, 8.x Integer epoch milliseconds. Sorted-set
  # scores are epoch seconds in every version.
  module Timestamp
    # Sidekiq 8 reads any Integer as milliseconds. An Integer this small is seconds written by
    # some other producer: as milliseconds it would be a date in 1973.
    MILLISECONDS_FROM = 100_000_000_000

    module_function

    # Epoch seconds as a Float, or nil when the value is absent or not a number.
    def seconds(value)
      case value
      when Float then value
      when Integer then value >= MILLISECONDS_FROM ? value / 1000.0 : value.to_f
      end
    end

    # The value as a UTC Time (exact for milliseconds), or nil.
    def time(value)
      if value.is_a?(Integer) && value >= MILLISECONDS_FROM
        Time.at(value / 1000, value % 1000, :millisecond).utc
      elsif (secs = seconds(value))
        Time.at(secs).utc
      end
    end

    # A sorted-set score from a Time (or anything with #to_time) or epoch seconds. Anything else
    # is refused: `nil.to_f` would quietly mean 1970, and a job scored then runs at once.
    # (Time#to_f can be off in the last digit; through Rational it is the nearest Float.)
    def score(at)
      seconds = case at
                when Numeric then at.to_f
                when Time then at.to_r.to_f
                when String, nil then nil
                else at.to_time.to_r.to_f if at.respond_to?(:to_time)
                end
      return seconds if seconds&.finite?

      raise ArgumentError, "expected a Time or epoch seconds, got #{at.inspect}"
    end

    # Seconds from +value+ until now; 0.0 when there is no usable timestamp.
    def age(value, now = Time.now.to_f)
      secs = seconds(value)
      secs ? now - secs : 0.0
    end
  end
end
