# frozen_string_literal: true

require "open3"
require "sidekiq/api"

# `sidekiqmon`: the cluster as a terminal shows it, Ferrokiq and Sidekiq 6.4.1 processes alike.
RSpec.describe "sidekiqmon" do
  EXE_MON = File.expand_path("../../exe/sidekiqmon", __dir__)

  def sidekiqmon(*args)
    out, err, status = Open3.capture3({ "REDIS_URL" => REDIS.url, "RUBYOPT" => nil }, RbConfig.ruby, EXE_MON, *args)
    raise "sidekiqmon failed: #{err}" unless status.success?

    out
  end

  it "prints the overview, every process with its queues, and the queues table" do
    Sidekiq::Client.push_bulk("class" => "MonJob", "args" => Array.new(1_234) { [_1] }, "queue" => "bulk")
    Sidekiq::Client.push("class" => "MonJob", "args" => [], "queue" => "other")
    server = start_server(jobs: "", args: %w[-q nothing,2 -q idle -g mon-tag])
    server.wait_until_running
    identity = eventually { Sidekiq.redis { |conn| conn.smembers("processes") }.first }

    out = sidekiqmon
    expect(out).to start_with("Sidekiq #{Sidekiq::VERSION} (Ferrokiq #{Ferrokiq::VERSION})\n")
    expect(out).to include("---- Overview ----", "   Enqueued: 1,235", "---- Processes (1) ----",
                           "#{identity} [mon-tag]", "   Queues: idle, nothing: 2")
    expect(out).to match(/^NAME +SIZE +LATENCY$/).and match(/^bulk +1234 +\d+\.\d\d$/).and match(/^other +1 +/)
    expect(sidekiqmon("queues")).to start_with("---- Queues (2) ----\n")
    expect(sidekiqmon("nope")).to eq("Unknown section 'nope'. Sections: all, version, overview, processes, queues\n")
    expect(server.stop).to be_success
  end

  it "shows a Sidekiq 6.4.1 process, whose heartbeat carries no version", if: SidekiqPeer.available? do
    SidekiqPeer.with_server("", redis_url: REDIS.url, queues: %w[peer]) do
      eventually { Sidekiq::ProcessSet.new.size == 1 }
      expect(sidekiqmon("processes")).to include("   Queues: peer", "  Version: unknown")
    end
  end
end
