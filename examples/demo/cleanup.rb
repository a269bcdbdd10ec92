# frozen_string_literal: true

# Removes everything this demo run added to Redis (see Demo.clean_up). bin/demo runs it at the
# end, and also when a step failed or was interrupted; running it twice is harmless.

require "sidekiq"
require "sidekiq/api"
require_relative "demo"

# The demo's server is stopped already, unless its step was killed: then it is stopped first,
# since nothing of the demo's may be written after the clean-up.
def stop_server(pid, started)
  Process.kill("TERM", pid)
  deadline = Demo.now + 30
  sleep 0.1 while Demo.started_at(pid) == started && Demo.now < deadline
  Process.kill("KILL", pid) if Demo.started_at(pid) == started
rescue Errno::ESRCH
  nil
end

server = Demo.load("server") || {}
if server["started"] && Demo.started_at(server["pid"]) == server["started"]
  server["identity"] ||= Demo.identity_of(server["pid"])
  stop_server(server["pid"], server["started"])
end

Demo.heading "Removing what the demo added to Redis"
removed = Demo.clean_up(identity: server["identity"])
puts "  Deleted this run's jobs: #{removed[:queued]} queued, #{removed[:schedule]} scheduled, " \
     "#{removed[:retry]} retrying, #{removed[:dead]} dead."
puts "  Deleted its server's entries in the process registry (#{server["identity"]})." if removed.key?(:server)
if (stats = removed.fetch(:stats, nil))
  puts "  Took its server's count back out of the stats counters: #{stats["processed"]} processed, " \
       "#{stats["failed"]} failed."
end
