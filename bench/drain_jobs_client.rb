# frozen_string_literal: true

# The pushing side of bench/drain.rb (Ferrokiq's client; the wire format is the same for both
# servers).
module BenchClient
  ARGS = ["string", 0, { "mike" => "bob" }].freeze

  module_function

  def push_load(pool, count, active_job: false, lock: ENV.fetch("BENCH_LOCK", nil))
    client = Sidekiq::Client.new(pool:)
    (0...count).each_slice(1000) do |slice|
      args = slice.map { |i| ["string", i, { "mike" => "bob" }] }
      client.push_bulk(active_job ? active_job_batch(args) : load_batch(args, lock))
    end
  end

  # One Client#push per job (perform_async's path), each job its own lock when +lock+ is given.
  def push_singles(pool, count, lock: nil)
    client = Sidekiq::Client.new(pool:)
    count.times do |i|
      job = { "class" => "LoadJob", "args" => ["string", i, { "mike" => "bob" }], "retry" => 1 }
      client.push(lock ? job.merge("lock" => lock) : job)
    end
  end

  # With a lock type (BENCH_LOCK=until_executed, or bench/unique_cost.rb) every job takes a
  # unique-job lock, each one its own (the args differ), to measure what locks cost the drain
  # (docs/design.md, §24).
  def load_batch(args, lock)
    batch = { "class" => "LoadJob", "args" => args, "retry" => 1 }
    lock ? batch.merge("lock" => lock) : batch
  end

  # What Rails 6.1's adapter pushes for `LoadActiveJob.perform_later(*args)`: the wrapper class,
  # the wrapped class's name and the serialized job as the only argument.
  def active_job_batch(args)
    { "class" => "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper", "wrapped" => "LoadActiveJob",
      "queue" => "default", "retry" => 1, "args" => args.map { |job_args| [LoadActiveJob.new(*job_args).serialize] } }
  end

  def schedule_probes(pool, count, spread:)
    client = Sidekiq::Client.new(pool:)
    start = Process.clock_gettime(Process::CLOCK_REALTIME) + 1
    count.times do |i|
      due = start + (spread * i / count)
      client.push("class" => "LatenessJob", "args" => [due], "at" => due)
    end
  end
end
