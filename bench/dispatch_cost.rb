# frozen_string_literal: true

# What Ferrokiq's own Ruby path costs per job, with nothing else around it: one
# Sidekiq::Processor handles the same small payload over and over in this thread, with an engine
# whose calls do nothing, an empty job, Sidekiq 7.3's default server middleware and the job
# lines left to the core (as in a server whose logger the log writer serves). Prints the CPU
# time per job (the best and the median of 7 rounds) and the objects one job allocates.
# docs/performance.md, §3.2 sets this against the whole server's figures.
#
#   ruby bench/dispatch_cost.rb            # 100k jobs per round
#   N=20000 ruby bench/dispatch_cost.rb
#
# Build first (rake compile). Benchmarks are measurements, not tests.

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require "sidekiq/processor"

# The engine's per-job calls, doing nothing: only the Ruby side is timed.
class IdleEngine
  def work_started(*) = nil
  def work_finished(*) = nil
  def acknowledge(*) = nil
  def record_execution(*) = nil
  def quiet? = false
end

# A job with nothing to do.
class EmptyJob
  include Sidekiq::Job

  def perform(*) = nil
end

N = Integer(ENV.fetch("N", 100_000))
config = Sidekiq.default_configuration
# As when the log writer serves the server logger: the core writes the start/done lines.
config.logger.instance_variable_set(:@native_layout, :default)
job_logger = Sidekiq::JobLogger.new(config).tap(&:hand_to_core!)
engine = IdleEngine.new
processor = Sidekiq::Processor.new(config, engine, job_logger, Sidekiq::JobRetry.new(config, engine))
payload = Sidekiq.dump_json({ "retry" => 5, "queue" => "default", "class" => "EmptyJob",
                              "args" => [1, "two", { "three" => 3 }], "jid" => "b4a5f3c2d1e0f9a8b7c6d5e4",
                              "created_at" => 1_764_504_000.123456, "enqueued_at" => 1_764_504_000.12399 })
units = Array.new(N) { ["default", payload] } # the engine's pairs, made before the clock starts

def cpu_now
  Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
end

rounds = Array.new(7) do
  started = cpu_now
  units.each { |unit| processor.send(:process, unit) }
  (cpu_now - started) * 1e6 / N
end
GC.disable
before = GC.stat(:total_allocated_objects)
processor.send(:process, units.first)
allocated = GC.stat(:total_allocated_objects) - before
puts format("dispatch: %<best>.2f us/job best, %<median>.2f median; %<allocated>d objects/job",
            best: rounds.min, median: rounds.sort[3], allocated:)
