# frozen_string_literal: true

# Runs Ferrokiq's server (exe/sidekiq) over this run's queues with a live progress line, shows
# what failed went to the retry set, and stops the server with TERM. With `bin/demo --web`
# (FERROKIQ_DEMO_WEB=1), once the queues are drained it serves the Web UI and keeps the server
# running until Ctrl-C.

require "sidekiq"
require "sidekiq/api"
require "rbconfig"
require "shellwords"
require "tempfile"
require_relative "demo"

ROOT = File.expand_path("../..", __dir__)
# On the user's own Redis the server uses basic fetch (Sidekiq's BRPOP): reliable fetch, the
# default, also puts back on their queues the unfinished jobs of other Ferrokiq processes
# that died, which is right for a real server and not the demo's business.
FETCH = ENV["FERROKIQ_DEMO_OWN_REDIS"] == "1" ? [] : %w[--fetch basic]
WEB = ENV["FERROKIQ_DEMO_WEB"] == "1"
require_relative "web_ui" if WEB
# What follows the processing: the Web UI, or the server's shutdown.
NEXT_STEP = WEB ? "" : " Sending TERM..."

# This run's jobs, read through Sidekiq's Data API as a dashboard would.
def counts
  { enqueued: Demo.queues.sum { |name| Sidekiq::Queue.new(name).size },
    retrying: Demo.entries(Sidekiq::RetrySet.new).size }
end

def progress(elapsed, initial, counts)
  format("  %<elapsed>5.1fs  taken %<taken>6d of %<initial>6d | enqueued %<enqueued>6d | retrying %<retrying>2d",
         elapsed:, taken: initial - counts[:enqueued], initial:, **counts)
end

# Waits for the server's first heartbeat and returns its identity (hostname:pid:nonce).
def registered(pid, log, timeout: 30)
  deadline = Demo.now + timeout
  loop do
    identity = Demo.identity_of(pid)
    return identity if identity

    abort "The server did not start within #{timeout}s; its log:\n#{File.read(log)}" if Demo.now > deadline
    abort "The server exited; its log:\n#{File.read(log)}" if Process.wait(pid, Process::WNOHANG)

    sleep 0.05
  end
end

# The Web UI over this Redis until Ctrl-C, the server still running meanwhile.
def serve_web_ui
  Demo.heading "Ferrokiq's Web UI (bin/demo --web)"
  Demo::WebUI.serve do |url|
    puts "  #{url}"
    puts "  The dashboard, the queues, the server at work (Busy), and the retry, scheduled and dead jobs."
    puts "  The server keeps running: the failed charges come back from the retry set, and fail again."
    puts "  The UI shows everything in this Redis, not only the demo's jobs."
    puts "  Press Ctrl-C to stop the UI and the server and to remove what the demo added to Redis."
    $stdout.flush # the URL, now, also when the output is a pipe
  end
  puts "\n  Stopped the Web UI. Sending TERM to the server..."
end

# Sends TERM and waits for the exit (KILL after 30 s).
def stop(pid)
  Process.kill("TERM", pid)
  deadline = Demo.now + 30
  until Process.wait(pid, Process::WNOHANG)
    next sleep(0.05) if Demo.now < deadline

    Process.kill("KILL", pid)
    Process.wait(pid)
    break
  end
rescue Errno::ECHILD, Errno::ESRCH
  nil # gone already
end

log = Tempfile.create(["ferrokiq-demo-server-", ".log"]).tap(&:close).path
Demo.save("stats", Demo::Stats.snapshot)
lease = Demo::SchedulerLease.new.hold
queue_flags = Demo::WEIGHTS.flat_map do |name, weight|
  ["-q", weight > 1 ? "#{Demo.queue(name)},#{weight}" : Demo.queue(name)]
end
command = [RbConfig.ruby, "exe/sidekiq", "-r", "./examples/demo/server.rb", "-c", "10", *queue_flags, *FETCH]

Demo.heading "Processing with Ferrokiq's server"
puts "  $ #{Shellwords.join(command)} >#{log} 2>&1"
server = Process.spawn(*command, chdir: ROOT, out: log, err: log)
begin
  Demo.save("server", { "pid" => server, "started" => Demo.started_at(server) })
  started = Demo.now
  initial = counts[:enqueued]
  Demo.save("server", Demo.load("server").merge("identity" => registered(server, log)))
  live = $stdout.tty?
  shown = 0
  loop do
    now = counts
    elapsed = Demo.now - started
    drained = now[:enqueued].zero? && now[:retrying] >= 2
    if live
      print "\r#{progress(elapsed, initial, now)}"
    elsif drained || elapsed >= shown
      puts progress(elapsed, initial, now) # a line a second when the output is a file or a pipe
      shown += 1
    end
    break puts("#{"\n" if live}\n  Queues drained in #{elapsed.round(2)}s.#{NEXT_STEP}") if drained
    break puts("#{"\n" if live}\n  Not drained after 60 s.#{NEXT_STEP}") if elapsed > 60

    sleep 0.25
  end
  serve_web_ui if WEB
ensure
  # Also when this step fails or is interrupted: the server must be gone before the clean-up.
  stop(server)
  lease.release
end
tally = Demo.load("tally")
if tally
  puts "  Server stopped: it ran #{tally["processed"]} jobs, #{tally["failed"]} of them failed."
else
  puts "  Server stopped; it wrote no count of the jobs it ran (see examples/demo/server.rb)."
end
puts "  Last lines of its log (#{log}):"
File.readlines(log).last(3).each { |line| puts "    #{line}" }

Demo.heading "The retry set (Sidekiq::RetrySet, what the Web UI shows under Retries: bin/demo --web)"
Demo.entries(Sidekiq::RetrySet.new).sort_by(&:score).each do |entry|
  puts format("  %<class>-16s %<args>-28s retry_count=%<count>d  next try at %<at>s",
              class: entry.display_class, args: entry.display_args.inspect, count: entry["retry_count"],
              at: entry.at.utc.strftime("%H:%M:%S UTC"))
  puts "    #{entry["error_class"]}: #{entry["error_message"]}"
end
scheduled = Demo.entries(Sidekiq::ScheduledSet.new).size
puts "\nScheduled jobs stay in the schedule set until they are due: #{scheduled} waiting."
