# frozen_string_literal: true

# Iterable-job overhead: items per second through an empty #each_iteration over a 1M-element
# array, in one process against a throwaway redis-server, best of ROUNDS (taking turns):
#   plain loop        array.each_with_index calling each_iteration: the floor
#   per-item checks   the same loop doing in Ruby what the native clock saves (a monotonic clock
#                     read for the flush interval, an interrupted? call, the item's timing)
#   Ferrokiq          IterableJob#perform with array_enumerator (cursor, native clock ticks,
#                     checkpoints; a state write every 5 s)
#
#   ruby bench/iteration.rb                  # 1M items, 3 rounds
#   ITEMS=5000000 ROUNDS=5 ruby bench/iteration.rb
#
# Build first (rake compile). Benchmarks are measurements, not tests.

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require_relative "support"

ITEMS = Integer(ENV.fetch("ITEMS", 1_000_000))
ROUNDS = Integer(ENV.fetch("ROUNDS", 3))
ARRAY = Array.new(ITEMS) { |index| index }.freeze

# The job under test; its each_iteration does nothing, so only the machinery is timed.
class EmptyIterationJob
  include Sidekiq::IterableJob

  def build_enumerator(cursor:)
    array_enumerator(ARRAY, cursor:)
  end

  def each_iteration(_item); end
end

def monotonic
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def plain_loop
  job = EmptyIterationJob.new
  ARRAY.each_with_index { |item, _index| job.each_iteration(item) }
end

# What a Ruby-only implementation checks around each item.
def checked_loop
  job = EmptyIterationJob.new
  flushed_at = monotonic
  cursor = nil
  ARRAY.each_with_index do |item, index|
    cursor = index
    flushed_at = monotonic if monotonic - flushed_at >= 5 || job.interrupted?
    started = monotonic
    job.each_iteration(item)
    warn "slow" if monotonic - started > 25
  end
  cursor
end

def ferrokiq
  job = EmptyIterationJob.new
  job.jid = Ferrokiq::Native.jid
  job.perform
end

def rate
  started = monotonic
  yield
  ITEMS / (monotonic - started)
end

# Best of ROUNDS for each, the variants taking turns so that a busy moment on the machine does
# not fall on one of them only.
def best_rates(variants)
  best = variants.transform_values { 0.0 }
  ROUNDS.times do
    variants.each { |name, run| best[name] = [best[name], rate(&run)].max }
  end
  best
end

Bench.with_redis do |url|
  Sidekiq.configure_client { |config| config.redis = { url: } }
  Sidekiq.logger.level = Logger::WARN
  rows = best_rates("plain loop" => -> { plain_loop }, "per-item checks" => -> { checked_loop },
                    "Ferrokiq" => -> { ferrokiq })
  floor = rows["plain loop"]
  puts "#{"".ljust(16)} #{"items/s".rjust(14)} #{"vs plain".rjust(10)}"
  rows.each do |name, rate|
    puts format("%<name>-16s %<rate>14.0f %<ratio>9.2fx", name:, rate:, ratio: rate / floor)
  end
end
