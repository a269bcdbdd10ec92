# frozen_string_literal: true

# Push benchmark: Ferrokiq against Debian's Sidekiq 6.4.1, alternating runs (A B A B ...) on
# one throwaway redis-server, same payloads. Prints jobs/s medians and per-pair ratios.
#
#   ruby bench/push.rb            # 5 pairs
#   PAIRS=3 ruby bench/push.rb
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "json"
require "rbconfig"
require "tmpdir"
require_relative "support"

ROOT = File.expand_path("..", __dir__)
PAIRS = Integer(ENV.fetch("PAIRS", 5))

Bench.with_redis do |url|
  worker = File.join(__dir__, "push_worker.rb")
  sides = {
    "Ferrokiq" => ->(env) { Bench.run_json(env, RbConfig.ruby, "-I", File.join(ROOT, "lib"), worker) },
    "Sidekiq 6.4.1" => ->(env) { Bench.run_json(Bench.peer_env(env), RbConfig.ruby, worker, chdir: Dir.tmpdir) }
  }
  runs = Bench.alternate(PAIRS, sides, "REDIS_URL" => url)
  Bench.report(runs, unit: "jobs/s", baseline: "Sidekiq 6.4.1", candidate: "Ferrokiq")
end
