# frozen_string_literal: true

# The pushing side of bench/drain.rb (Ferrokiq's client; the wire format is the same for both
# servers).
module BenchClient
  ARGS = ["string", 0, { "mike" => "bob" }].freeze

  module_function

  def push_load(pool, count)
    client = Sidekiq::Client.new(pool: pool)
    (0...count).each_slice(1000) do |slice|
      client.push_bulk("class" => "LoadJob", "args" => slice.map { |i| ["string", i, { "mike" => "bob" }] },
                       "retry" => 1)
    end
  end

  def schedule_probes(pool, count, spread:)
    client = Sidekiq::Client.new(pool: pool)
    start = Process.clock_gettime(Process::CLOCK_REALTIME) + 1
    count.times do |i|
      due = start + (spread * i / count)
      client.push("class" => "LatenessJob", "args" => [due], "at" => due)
    end
  end
end
