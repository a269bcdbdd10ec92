# frozen_string_literal: true

# Web UI benchmark: Ferrokiq's UI against Debian's Sidekiq 6.4.1 UI, each served by Puma in its
# own process (bench/web_server.rb) over one throwaway redis-server seeded by bench/web_seed.rb
# with SIZE entries in each of retry/schedule/dead, SIZE jobs in queue:default and PROCESSES
# processes with BUSY busy threads each.
#
# Pages: every page is requested REQUESTS times per side per pair, alternating sides page by
# page; the times are the server's (Rack::Runtime's X-Runtime, the same middleware on both
# sides), p50 and p95 over all requests, the first of each batch left out as a warm-up.
# Bulk actions: each UI's own POST with its own CSRF token on BULK entries, the data restored
# (RESTORE of the seeded keys) before every run; the time is the POST's, client side, and the
# result is checked (the set empty, every job where it should be).
#
#   ruby bench/web.rb                                # 100k, 100 processes x 20 busy, 20 requests, 1 pair
#   SIZE=20000 REQUESTS=10 PAIRS=2 ruby bench/web.rb
#   BULK=0 ruby bench/web.rb                         # pages only
#   FERROKIQ_LIB=/path/to/lib ruby bench/web.rb      # another build of Ferrokiq (e.g. a "before")
#
# Build first (rake compile). Benchmarks are measurements, not tests.

require "rbconfig"
require "tmpdir"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "sidekiq"
require_relative "support"
require_relative "web_client"
require_relative "web_seed"

ROOT = File.expand_path("..", __dir__)
FERROKIQ_LIB = ENV.fetch("FERROKIQ_LIB", File.join(ROOT, "lib"))
SIZE = Integer(ENV.fetch("SIZE", 100_000))
PROCESSES = Integer(ENV.fetch("PROCESSES", 100))
BUSY = Integer(ENV.fetch("BUSY", 20))
REQUESTS = Integer(ENV.fetch("REQUESTS", 20))
PAIRS = Integer(ENV.fetch("PAIRS", 1))
BULK = ENV.fetch("BULK", "1") != "0"
SIDES = ["Ferrokiq", "Sidekiq 6.4.1"].freeze
LAST_PAGE = (SIZE + 24) / 25

# [label, path, sides] (Sidekiq 6.4.1 has no filter).
PAGES = [
  ["dashboard", "/", SIDES],
  ["/stats", "/stats", SIDES],
  ["/stats/queues", "/stats/queues", SIDES],
  ["busy", "/busy", SIDES],
  ["queues", "/queues", SIDES],
  ["queue, first page", "/queues/default", SIDES],
  ["queue, last page", "/queues/default?page=#{LAST_PAGE}", SIDES],
  ["retries, first page", "/retries", SIDES],
  ["retries, last page", "/retries?page=#{LAST_PAGE}", SIDES],
  ["scheduled, first page", "/scheduled", SIDES],
  ["scheduled, last page", "/scheduled?page=#{LAST_PAGE}", SIDES],
  ["morgue, first page", "/morgue", SIDES],
  ["morgue, last page", "/morgue?page=#{LAST_PAGE}", SIDES],
  ["retry entry", "/retries/#{WebSeed.retry_key(SIZE / 2)}", SIDES],
  ["retries filter", "/retries?substr=#{WebSeed::NEEDLE}", ["Ferrokiq"]]
].freeze

# [label, POST path, page holding the form, check(conn) => problem or nil].
BULK_ACTIONS = [
  ["retries: retry all", "/retries/all/retry", "/retries",
   ->(c) { c.call("ZCARD", "retry").zero? && c.call("LLEN", "queue:default") == 2 * SIZE }],
  ["retries: delete all", "/retries/all/delete", "/retries", ->(c) { c.call("EXISTS", "retry").zero? }],
  ["retries: kill all", "/retries/all/kill", "/retries",
   ->(c) { c.call("ZCARD", "retry").zero? && c.call("ZCARD", "dead").positive? }],
  ["morgue: retry all", "/morgue/all/retry", "/morgue",
   ->(c) { c.call("ZCARD", "dead").zero? && c.call("LLEN", "queue:default") == 2 * SIZE }]
].freeze

def start_ui(name, url)
  port = Bench.free_port
  script = File.join(__dir__, "web_server.rb")
  env = { "REDIS_URL" => url, "PORT" => port.to_s }
  pid = if name == "Ferrokiq"
          Process.spawn(env, RbConfig.ruby, "-I", FERROKIQ_LIB, script, out: File::NULL)
        else
          Process.spawn(Bench.peer_env(env), RbConfig.ruby, script, chdir: Dir.tmpdir, out: File::NULL, err: File::NULL)
        end
  Bench.wait_for_port(port)
  [pid, port]
end

def percentile(values, fraction)
  sorted = values.sort
  sorted[[(sorted.size * fraction).ceil - 1, 0].max]
end

def time_pages(clients)
  samples = Hash.new { |hash, key| hash[key] = [] }
  PAIRS.times do |pair|
    PAGES.each do |label, path, sides|
      sides.each do |name|
        timings = Array.new(REQUESTS + 1) { clients[name].get(path) }
        bad = timings.find { |t| t.status != 200 }
        raise "#{name} #{path}: HTTP #{bad.status}" if bad

        samples[[label, name]].concat(timings.drop(1).map(&:server_ms))
      end
      latest = sides.map { |name| "#{name} #{samples[[label, name]].last.round(1)} ms" }
      warn "pair #{pair + 1}/#{PAIRS} #{label}: #{latest.join(", ")}"
    end
  end
  samples
end

def time_bulk(clients, redis, dumps)
  results = {}
  PAIRS.times do
    BULK_ACTIONS.each do |label, path, page, check|
      SIDES.each do |name|
        WebSeed.restore(redis, dumps)
        timing = clients[name].post(path, token_page: page)
        raise "#{name} #{path}: HTTP #{timing.status}" unless [302, 303].include?(timing.status)
        raise "#{name} #{label}: the data is not as expected afterwards" unless redis.with { |conn| check.call(conn) }

        (results[[label, name]] ||= []) << timing.wall_ms
        warn "#{label} #{name}: #{timing.wall_ms.round} ms"
      end
    end
  end
  WebSeed.restore(redis, dumps)
  results
end

# One line of a table: the label left-aligned, the other cells right-aligned.
def row(label, *cells)
  label.ljust(24) + cells.map { |cell| cell.to_s.rjust(18) }.join
end

def print_pages(samples)
  puts "\n#{row("page (server ms)", "Ferrokiq p50/p95", "6.4.1 p50/p95", "p95 ratio")}"
  PAGES.each do |label, _, sides|
    cells = SIDES.map do |name|
      next "n/a" unless sides.include?(name)

      values = samples[[label, name]]
      "#{percentile(values, 0.5).round(1)} / #{percentile(values, 0.95).round(1)}"
    end
    ratio = if sides.size == 2
              ours, theirs = SIDES.map { |name| percentile(samples[[label, name]], 0.95) }
              format("%.2fx", ours / theirs)
            end
    puts row(label, *cells, ratio)
  end
end

def print_bulk(results)
  puts "\n#{row("bulk action (ms, POST)", "Ferrokiq", "Sidekiq 6.4.1", "ratio")}"
  BULK_ACTIONS.each do |label, *|
    ours, theirs = SIDES.map { |name| Bench.median(results[[label, name]]) }
    puts row(label, ours.round, theirs.round, format("%.3fx", ours / theirs))
  end
end

Bench.with_redis do |url|
  redis = Sidekiq::RedisConnection.create(url:)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  dumps = WebSeed.seed(redis, size: SIZE, processes: PROCESSES, busy_per_process: BUSY)
  warn "seeded in #{(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).round(1)} s"
  servers = SIDES.to_h { |name| [name, start_ui(name, url)] }
  begin
    clients = servers.transform_values { |(_, port)| WebClient.new(port) }
    samples = time_pages(clients)
    bulk = time_bulk(clients, redis, dumps) if BULK
    puts "\n#{SIZE} entries in each of retry/schedule/dead and queue:default, #{PROCESSES} processes x #{BUSY} busy " \
         "threads; #{REQUESTS} requests per page per pair, #{PAIRS} pair(s); Puma, one thread each"
    print_pages(samples)
    print_bulk(bulk) if bulk
  ensure
    servers.each_value do |(pid, _)|
      Process.kill("TERM", pid)
      Process.wait(pid)
    end
  end
end
