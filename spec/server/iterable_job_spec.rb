# frozen_string_literal: true

# Iterable jobs (Sidekiq 7.3's API) in the real `exe/sidekiq`: interruption by TERM and resumption
# on the next server, cancellation from another process, the runtime limit, and the Active
# Record (SQLite, loaded only in the server) and CSV enumerators.
module IterableJobSpec
  # Every job records what it did in Redis: the items (`done`), and its hooks in order.
  # ITEM_DELAY slows the items down so a server can be stopped partway.
  HOOK_RECORDER = <<~RUBY
    module RecordsHooks
      %i[on_start on_resume on_stop on_complete].each do |hook|
        define_method(hook) { Sidekiq.redis { |conn| conn.rpush("hooks", hook.to_s) } }
      end

      def record(value)
        Sidekiq.redis { |conn| conn.rpush("done", Sidekiq.dump_json(value)) }
      end
    end
  RUBY

  ARRAY_JOBS = <<~RUBY.freeze
    #{HOOK_RECORDER}
    class ArrayWalkJob
      include Sidekiq::IterableJob
      include RecordsHooks

      def build_enumerator(size, cursor:)
        array_enumerator((0...size).to_a, cursor:)
      end

      def each_iteration(item, _size)
        record(item)
        sleep Float(ENV.fetch("ITEM_DELAY", "0"))
      end
    end

    class LimitedWalkJob < ArrayWalkJob
      sidekiq_options max_iteration_runtime: 0.5
    end
  RUBY

  AR_JOBS = <<~RUBY.freeze
    require "active_record"
    require "sqlite3"
    #{HOOK_RECORDER}
    ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: File.expand_path("items.sqlite3"))
    ActiveRecord::Base.logger = nil
    ActiveRecord::Schema.verbose = false
    ActiveRecord::Schema.define do
      create_table(:items, force: true) { |t| t.string :name }
    end
    class Item < ActiveRecord::Base; end
    Item.insert_all!((1..25).map { |id| { id:, name: "item \#{id}" } })

    class RecordsJob
      include Sidekiq::IterableJob
      include RecordsHooks

      def build_enumerator(cursor:)
        active_record_records_enumerator(Item.all, cursor:, batch_size: 4)
      end

      def each_iteration(item)
        record(["record", item.name, cursor])
      end
    end

    class BatchesJob
      include Sidekiq::IterableJob
      include RecordsHooks

      def build_enumerator(cursor:)
        active_record_batches_enumerator(Item.all, cursor:, batch_size: 10)
      end

      def each_iteration(items)
        record(["batch", items.map(&:id), cursor])
      end
    end

    class RelationsJob
      include Sidekiq::IterableJob
      include RecordsHooks

      def build_enumerator(cursor:)
        active_record_relations_enumerator(Item.where("id > 2"), cursor:, batch_size: 10)
      end

      def each_iteration(relation)
        record(["relation", relation.is_a?(ActiveRecord::Relation), relation.pluck(:id).sort, cursor])
      end
    end
  RUBY

  CSV_JOBS = <<~RUBY.freeze
    require "csv"
    #{HOOK_RECORDER}
    File.write("people.csv", "name,age\\n" + (1..7).map { |n| "person \#{n},\#{20 + n}\\n" }.join)

    class CsvRowsJob
      include Sidekiq::IterableJob
      include RecordsHooks

      def build_enumerator(cursor:)
        csv_enumerator(CSV.open("people.csv", headers: true), cursor:)
      end

      def each_iteration(row)
        record(["row", row["name"], cursor])
      end
    end

    class CsvBatchesJob < CsvRowsJob
      def build_enumerator(cursor:)
        csv_batches_enumerator(CSV.open("people.csv", headers: true), cursor:, batch_size: 3)
      end

      def each_iteration(rows)
        record(["batch", rows.map { |row| row["age"].to_i }, cursor])
      end
    end
  RUBY
end

RSpec.describe "Iterable jobs" do
  def push(klass, *args)
    Sidekiq::Client.push("class" => klass, "args" => args)
  end

  def hooks
    redis_list("hooks")
  end

  def done
    redis_json_list("done")
  end

  def iteration_state(jid)
    Sidekiq.redis { |conn| conn.hgetall("it-#{jid}") }
  end

  it "saves the cursor at TERM, re-queues the job and resumes at that cursor on the next server" do
    jid = push("ArrayWalkJob", 2_000)
    first = start_server(jobs: IterableJobSpec::ARRAY_JOBS, env: { "ITEM_DELAY" => "0.01" }).wait_until_running
    eventually { done.size >= 20 }
    expect(first.stop).to be_success

    state = iteration_state(jid)
    cursor = Integer(state.fetch("c"))
    # The item at the cursor had not run: the run stopped between two items.
    expect(done).to eq((0...cursor).to_a)
    expect(state).to include("ex" => "1")
    expect(Float(state.fetch("rt"))).to be > 0
    expect(Sidekiq.redis { |conn| conn.ttl("it-#{jid}") }).to be > 29 * 86_400
    expect(queue_jobs.map { |job| job["jid"] }).to eq([jid])
    expect(hooks).to eq(%w[on_start on_stop])
    expect(first.log).to include("Interrupting job at cursor #{cursor}")

    start_server(jobs: IterableJobSpec::ARRAY_JOBS).wait_until_running
    eventually { hooks.last == "on_complete" }
    expect(done).to eq((0...2_000).to_a) # every item once, in order
    expect(hooks).to eq(%w[on_start on_stop on_resume on_stop on_complete])
    expect(iteration_state(jid)).to be_empty
    expect(Sidekiq.redis { |conn| conn.zcard("retry") }).to eq(0)
  end

  it "stops a running job cancelled from another process, and skips one cancelled before it ran" do
    running = push("ArrayWalkJob", 100_000)
    start_server(jobs: IterableJobSpec::ARRAY_JOBS, env: { "ITEM_DELAY" => "0.001" }).wait_until_running
    eventually { done.size >= 50 }
    expect(Sidekiq::Client.new.cancel!(running)).to be_within(60).of(Time.now.to_i)

    eventually { hooks.last == "on_complete" }
    expect(hooks).to eq(%w[on_start on_stop on_complete])
    expect(done.size).to be < 100_000
    expect(done).to eq((0...done.size).to_a)
    expect(iteration_state(running)).to be_empty
    expect(queue_jobs).to be_empty

    cancelled_at = Sidekiq::Client.new.cancel!("0123456789abcdef01234567")
    expect(Sidekiq::Client.new.cancel!("0123456789abcdef01234567")).to eq(cancelled_at) # the first time stays
    expect(iteration_state("0123456789abcdef01234567")).to eq("cancelled" => cancelled_at.to_s)
    Sidekiq.redis { |conn| conn.del("hooks", "done") }
    Sidekiq::Client.push("class" => "ArrayWalkJob", "args" => [10], "jid" => "0123456789abcdef01234567")
    eventually { hooks.last == "on_complete" }
    expect(hooks).to eq(%w[on_start on_stop on_complete])
    expect(done).to be_empty
  end

  it "re-queues a run that reaches max_iteration_runtime, which then resumes where it stopped" do
    jid = push("LimitedWalkJob", 60)
    server = start_server(jobs: IterableJobSpec::ARRAY_JOBS, env: { "ITEM_DELAY" => "0.05" }).wait_until_running
    eventually { hooks.last == "on_complete" }

    expect(done).to eq((0...60).to_a)
    runs = hooks.count("on_stop")
    expect(runs).to be >= 2
    expect(hooks).to eq(["on_start", "on_stop", *(%w[on_resume on_stop] * (runs - 1)), "on_complete"])
    expect(server.log).to include("max_iteration_runtime (0.5s) reached")
    expect(iteration_state(jid)).to be_empty
  end

  it "takes max_iteration_runtime from the server's configuration" do
    limit = "Sidekiq.configure_server { |config| config[:max_iteration_runtime] = 0.5 }"
    jobs = "#{IterableJobSpec::ARRAY_JOBS}\n#{limit}\n"
    push("ArrayWalkJob", 40)
    start_server(jobs:, env: { "ITEM_DELAY" => "0.05" }).wait_until_running
    eventually { hooks.last == "on_complete" }
    expect(done).to eq((0...40).to_a)
    expect(hooks).to include("on_resume")
  end

  # The state a run interrupted at +cursor+ leaves, as Sidekiq 7.3 writes it; then the job.
  def push_interrupted(klass, jid, cursor)
    Sidekiq.redis { |conn| conn.hset("it-#{jid}", "ex", "1", "c", JSON.generate(cursor), "rt", "0.25") }
    Sidekiq::Client.push("class" => klass, "args" => [], "jid" => jid)
  end

  describe "Active Record enumerators (SQLite in the server)" do
    before { start_server(jobs: IterableJobSpec::AR_JOBS, args: %w[-c 1]).wait_until_running }

    it "walks records by primary key, resuming at the saved one" do
      push_interrupted("RecordsJob", "00000000000000000000000a", 11)
      eventually { hooks == %w[on_resume on_stop on_complete] }
      expect(done).to eq((11..25).map { |id| ["record", "item #{id}", id] })
      expect(iteration_state("00000000000000000000000a")).to be_empty
    end

    it "walks batches of records, the cursor being each batch's first key" do
      push("BatchesJob")
      eventually { hooks == %w[on_start on_stop on_complete] }
      expect(done).to eq([["batch", (1..10).to_a, 1], ["batch", (11..20).to_a, 11], ["batch", (21..25).to_a, 21]])
    end

    it "walks relations of one batch each, resuming at the saved key" do
      push_interrupted("RelationsJob", "00000000000000000000000b", 13)
      eventually { hooks == %w[on_resume on_stop on_complete] }
      expect(done).to eq([["relation", true, (13..22).to_a, 13], ["relation", true, (23..25).to_a, 23]])
    end
  end

  it "walks a CSV file by rows and by batches of rows, resuming at a saved index" do
    push_interrupted("CsvRowsJob", "00000000000000000000000c", 4)
    push("CsvBatchesJob")
    start_server(jobs: IterableJobSpec::CSV_JOBS, args: %w[-c 1]).wait_until_running
    eventually { hooks.count("on_complete") == 2 }
    expect(done).to eq([["row", "person 5", 4], ["row", "person 6", 5], ["row", "person 7", 6],
                        ["batch", [21, 22, 23], 0], ["batch", [24, 25, 26], 1], ["batch", [27], 2]])
  end
end
