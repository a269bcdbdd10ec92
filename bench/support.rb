# frozen_string_literal: true

require "json"
require "open3"
require "socket"
require "tmpdir"

# Shared plumbing of the side-by-side benchmarks: a throwaway Redis, running each side in
# its own process, alternating pairs and the ratio table.
module Bench
  module_function

  def free_port
    TCPServer.new("127.0.0.1", 0).then { |s| s.addr[1].tap { s.close } }
  end

  def wait_for_port(port)
    100.times do
      break if (TCPSocket.open("127.0.0.1", port).close rescue false) # rubocop:disable Style/RescueModifier

      sleep 0.05
    end
  end

  # A throwaway redis-server; with REDIS_RTT_US set, reached through bench/delay-proxy so that
  # every round trip takes that long (Sidekiq's "Redis 1 ms away" condition).
  def with_redis
    port = free_port
    dir = Dir.mktmpdir("ferrokiq-bench")
    pids = [Process.spawn("redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", dir, out: File::NULL, err: File::NULL)]
    wait_for_port(port)
    if (rtt = ENV.fetch("REDIS_RTT_US", nil))
      port, proxy = delayed(port, rtt)
      pids << proxy
    end
    yield "redis://127.0.0.1:#{port}/0"
  ensure
    pids&.reverse_each do |pid|
      Process.kill("TERM", pid)
      Process.wait(pid)
    end
    FileUtils.rm_rf(dir) if dir
  end

  def delayed(upstream, rtt)
    root = File.expand_path("..", __dir__)
    manifest = File.join(root, "bench/delay-proxy/Cargo.toml")
    target = File.join(root, "target/delay-proxy")
    system("cargo", "build", "--quiet", "--release", "--manifest-path", manifest, "--target-dir", target,
           exception: true)
    port = free_port
    pid = Process.spawn(File.join(target, "release/delay-proxy"), port.to_s, upstream.to_s, rtt.to_s)
    wait_for_port(port)
    [port, pid]
  end

  # The environment for Debian's Sidekiq: none of our load path or bundler settings.
  def peer_env(env)
    ENV.to_h.reject { |key, _| key.start_with?("BUNDLE", "RUBY", "GEM_") }.merge(env)
  end

  def run_json(env, *cmd, chdir: Dir.pwd)
    out, err, status = Open3.capture3(env, *cmd, chdir: chdir)
    raise "#{cmd.join(" ")} failed:\n#{err}\n#{out}" unless status.success?

    JSON.parse(out.lines.last)
  end

  # Runs the sides alternately, +pairs+ times; returns { side => [result Hash, ...] }.
  def alternate(pairs, sides, env)
    runs = sides.keys.to_h { |name| [name, []] }
    pairs.times do |i|
      sides.each do |name, runner|
        result = runner.call(env)
        runs[name] << result
        warn "pair #{i + 1}/#{pairs} #{name}: #{result.transform_values { |v| v.round }}"
      end
    end
    runs
  end

  def median(values)
    sorted = values.sort
    mid = sorted.size / 2
    sorted.size.odd? ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0
  end

  def report(runs, unit:, baseline:, candidate:)
    scenarios = runs[candidate].first.keys
    puts format("\n%-30s %14s %14s %8s  %s", "scenario (#{unit})", candidate, baseline, "ratio", "per-pair ratios")
    scenarios.each do |scenario|
      ours = runs[candidate].map { |r| r[scenario] }
      theirs = runs[baseline].map { |r| r[scenario] }
      pairs = ours.zip(theirs).map { |a, b| (a / b).round(2) }
      puts format("%-30s %14.0f %14.0f %7.2fx  %s", scenario, median(ours), median(theirs),
                  median(ours) / median(theirs), pairs.join(" "))
    end
  end
end
