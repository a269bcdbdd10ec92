# frozen_string_literal: true

require "csv"
require "stringio"

# Sidekiq::IterableJob in this process, against the spec's Redis: the run's outcomes, the saved
# state, the enumerators and the native clock. (spec/server/iterable_job_spec.rb runs them in
# real servers.)
# A processor's stand-in as a job's _context: says "stopping" from the +after+th question on.
class IterableSpecContext
  def initialize(after)
    @left = after
  end

  def stopping?
    (@left -= 1).negative?
  end
end

RSpec.describe Sidekiq::IterableJob do
  let(:job_class) do
    Class.new do
      include Sidekiq::IterableJob

      attr_reader :seen, :hooks

      def self.name = "WalkJob"

      def initialize
        super
        @seen = []
        @hooks = []
      end

      def build_enumerator(items, cursor:)
        array_enumerator(items, cursor:)
      end

      def each_iteration(item, _items)
        throw :abort if item == "abort"
        raise ArgumentError, "bad item" if item == "bad"

        sleep 0.15 if item == "slow" # longer than a checkpoint interval: the next item is one

        @seen << item
      end

      %i[on_start on_resume on_stop on_complete].each { |hook| define_method(hook) { @hooks << hook } }
    end
  end

  def new_job(context: nil)
    job_class.new.tap do |job|
      job.jid = "0123456789abcdef01234567"
      job._context = context
    end
  end

  def run(items)
    new_job.tap { |job| job.perform(items) }
  end

  def state(jid = "0123456789abcdef01234567")
    Sidekiq.redis { |conn| conn.hgetall("it-#{jid}") }
  end

  it "walks every item, calls on_start, on_stop and on_complete, and leaves no state" do
    job = run(%w[a b c])
    expect(job.seen).to eq(%w[a b c])
    expect(job.hooks).to eq(%i[on_start on_stop on_complete])
    expect(job.arguments).to eq([%w[a b c]])
    expect(state).to be_empty
  end

  it "stops when the process is stopping, saving the cursor of the item not yet done" do
    items = %w[a b slow c d]
    # The first item is a checkpoint: the context answers "not stopping" there, then "stopping".
    job = new_job(context: IterableSpecContext.new(1))
    expect { job.perform(items) }.to raise_error(Sidekiq::Job::Interrupted)
    expect(job.seen).to eq(%w[a b slow])
    done = job.seen.size
    expect(state).to include("ex" => "1", "c" => done.to_s)
    expect(job.hooks).to eq(%i[on_start on_stop])

    resumed = run(items)
    expect(resumed.seen).to eq(items.drop(done))
    expect(resumed.hooks).to eq(%i[on_resume on_stop on_complete])
    expect(state).to be_empty
  end

  it "asks a class's own interrupted? before every item, as Sidekiq 7.3 does" do
    job_class.class_eval { def interrupted? = seen.size == 2 }
    job = new_job
    expect { job.perform(%w[a b c d]) }.to raise_error(Sidekiq::Job::Interrupted)
    expect(job.seen).to eq(%w[a b])
    expect(state).to include("ex" => "1", "c" => "2")
  end

  it "saves the cursor of an item that raised, so a retry starts with it" do
    expect { run(%w[a b bad c]) }.to raise_error(ArgumentError, "bad item")
    expect(state).to include("ex" => "1", "c" => "2")
    expect(Sidekiq.redis { |conn| conn.ttl("it-0123456789abcdef01234567") }).to eq(30 * 86_400)
  end

  it "ends as complete on `throw :abort`" do
    job = run(%w[a abort b])
    expect(job.seen).to eq(%w[a])
    expect(job.hooks).to eq(%i[on_start on_stop on_complete])
    expect(state).to be_empty
  end

  it "does nothing for a job cancelled before it ran, and cancel! keeps the first time" do
    first = Sidekiq::Client.new.cancel!("0123456789abcdef01234567")
    job = run(%w[a b])
    expect(job.seen).to be_empty
    expect(job.cancelled?).to eq(first)
    expect(job.hooks).to eq(%i[on_start on_stop on_complete])
    expect(job.cancel!).to eq(first)
  end

  it "refuses a #perform of its own, and a build_enumerator that returns no Enumerator" do
    expect { Class.new { include Sidekiq::IterableJob; def perform; end } } # rubocop:disable Style/Semicolon
      .to raise_error(RuntimeError, /must not define #perform/)
    job = Class.new do
      include Sidekiq::IterableJob
      def build_enumerator(cursor:) = [cursor]
    end.new
    expect { job.perform }.to raise_error(ArgumentError, /must return an Enumerator, but returned Array/)
  end

  it "InterruptHandler puts an interrupted job back on its queue and settles the run with a Skip" do
    require "sidekiq/job/interrupt_handler"
    job = { "class" => "WalkJob", "args" => [[1]], "jid" => "0123456789abcdef01234567", "queue" => "walks",
            "retry" => true, "created_at" => 1_700_000_000.5 }
    expect { Sidekiq::Job::InterruptHandler.new.call(nil, job, "walks") { raise Sidekiq::Job::Interrupted } }
      .to raise_error(Sidekiq::JobRetry::Skip)
    requeued = Sidekiq.redis { |conn| conn.lrange("queue:walks", 0, -1) }.map { |json| JSON.parse(json) }
    expect(requeued).to match([hash_including(job)])
    expect(Sidekiq::Job::InterruptHandler.new.call(nil, job, "walks") { :done }).to eq(:done)
  end

  describe "enumerators" do
    let(:helpers) { Class.new { include Sidekiq::Job::Iterable::Enumerators }.new }

    it "array_enumerator yields [item, index] from the cursor on, sized to what is left" do
      enum = helpers.array_enumerator(%w[a b c d], cursor: 2)
      expect(enum.to_a).to eq([["c", 2], ["d", 3]])
      expect(enum.size).to eq(2)
      expect(helpers.array_enumerator(%w[a], cursor: 5).to_a).to eq([])
      expect { helpers.array_enumerator({}, cursor: nil) }.to raise_error(ArgumentError, /must be an Array/)
      expect { helpers.array_enumerator([], cursor: "1") }.to raise_error(ArgumentError, /Integer index/)
    end

    it "csv_enumerator and csv_batches_enumerator yield rows and batches with their index" do
      csv = -> { CSV.new(StringIO.new("n\n1\n2\n3\n4\n5\n"), headers: true) }
      expect(helpers.csv_enumerator(csv.call, cursor: 3).map { |row, index| [row["n"], index] })
        .to eq([["4", 3], ["5", 4]])
      expect(helpers.csv_batches_enumerator(csv.call, cursor: 1, batch_size: 2)
               .map { |rows, index| [rows.map { |row| row["n"] }, index] })
        .to eq([[%w[3 4], 1], [%w[5], 2]])
      expect { helpers.csv_enumerator([], cursor: nil) }.to raise_error(ArgumentError, /CSV object/)
    end
  end

  describe Ferrokiq::Native::IterationClock, :native do
    it "counts ticks and makes the first one a checkpoint, the next ones not until the interval" do
      clock = described_class.new(3600, 3600, nil)
      expect(clock.tick).to be(true)
      expect(Array.new(100) { clock.tick }.uniq).to eq([false])
      expect(clock.iterations).to eq(101)
      expect(clock.flush_due?).to be(false)
      expect(clock.over_limit?).to be(false)
    end

    it "says a flush is due, and the limit reached, once their time has passed" do
      clock = described_class.new(0, 0, 0)
      sleep 0.01
      expect([clock.tick, clock.flush_due?, clock.over_limit?]).to eq([true, true, true])
      expect(clock.elapsed).to be > 0
      expect(clock.take_longest_gap).to be >= 0
    end

    it "refuses negative or non-finite intervals" do
      expect { described_class.new(-1, 5, nil) }.to raise_error(ArgumentError, /checkpoint interval/)
      expect { described_class.new(0.1, Float::NAN, nil) }.to raise_error(ArgumentError, /flush interval/)
      expect { described_class.new(0.1, 5, Float::INFINITY) }.to raise_error(ArgumentError, /max_iteration_runtime/)
    end
  end
end
