# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))

require_relative "support/run_redis"
require_relative "support/sidekiq_peer"
require_relative "support/redis_helpers"
require_relative "support/server_process"

require "sidekiq"

# Polls until the block is truthy (for work done by another process), failing after +timeout+.
def eventually(timeout: 30, interval: 0.05)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
  loop do
    result = yield
    return result if result
    raise "condition not met within #{timeout}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep interval
  end
end

# Test-side work that crosses no binding (an HTTP client reading an endpoint, say) runs without
# GC.stress during the stress pass: under it, a collection at each of Net::HTTP's thousands of
# allocations made one example take minutes, and stressing that code proves nothing.
# GC.stress's flag for "minor collections only" (bit 0, gc_stress_no_major, in Ruby's gc.c).
GC_STRESS_MINOR_ONLY = 0x01

def without_gc_stress
  stressed = GC.stress
  GC.stress = false
  yield
ensure
  GC.stress = stressed
end

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :random
  Kernel.srand config.seed

  config.before do
    Sidekiq.redis(&:flushdb)
  end

  # The pass over the specs tagged :native under GC.stress: a collection at every allocation
  # frees any Ruby value the binding holds without keeping it alive. FERROKIQ_GC_STRESS=minor
  # (bin/test's pass) collects only the young generation, where every value handed to the
  # binding during a call starts out; FERROKIQ_GC_STRESS=1 makes each collection a full one,
  # which also catches an old value the binding alone keeps, at a hundred times the cost (about
  # twenty minutes on two cores): run it after changing ext/ferrokiq.
  if ENV["FERROKIQ_GC_STRESS"]
    stress = ENV["FERROKIQ_GC_STRESS"] == "minor" ? GC_STRESS_MINOR_ONLY : true
    config.around(:each, :native) do |example|
      GC.stress = stress
      example.run
    ensure
      GC.stress = false
    end
  end
end
