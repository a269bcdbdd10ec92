# frozen_string_literal: true

RSpec.describe Sidekiq::Middleware::Chain do
  subject(:chain) { described_class.new }

  # Middleware classes that record their construction arguments and call order.
  let(:log) { [] }
  let(:classes) do
    calls = log
    %w[A B C D].to_h do |name|
      klass = Class.new do
        define_method(:initialize) { |*args| @args = args }
        define_method(:call) do |*_job, &block|
          calls << [name, @args]
          block.call
        end
      end
      [name, klass]
    end
  end

  def names
    chain.entries.map { |entry| classes.key(entry.klass) }
  end

  it "adds to the end, moving an existing entry" do
    chain.add(classes["A"])
    chain.add(classes["B"])
    chain.add(classes["A"])
    expect(names).to eq(%w[B A])
  end

  it "prepends" do
    chain.add(classes["A"])
    chain.prepend(classes["B"])
    expect(names).to eq(%w[B A])
  end

  it "inserts before and after, or at the front / end when the anchor is absent" do
    chain.add(classes["A"])
    chain.add(classes["B"])
    chain.insert_before(classes["B"], classes["C"])
    expect(names).to eq(%w[A C B])
    chain.insert_after(classes["A"], classes["B"])
    expect(names).to eq(%w[A B C])
    chain.insert_before(Class.new, classes["D"])
    expect(names).to eq(%w[D A B C])
    chain.insert_after(Class.new, classes["D"])
    expect(names).to eq(%w[A B C D])
  end

  it "removes, tests membership, clears" do
    chain.add(classes["A"])
    chain.add(classes["B"])
    chain.remove(classes["A"])
    expect(chain.exists?(classes["A"])).to be(false)
    expect(chain.include?(classes["B"])).to be(true)
    expect(chain).not_to be_empty
    chain.clear
    expect(chain).to be_empty
  end

  it "invokes in order with fresh instances built with the given args" do
    chain.add(classes["A"], 1, 2)
    chain.add(classes["B"])
    result = chain.invoke(:job) { :performed }
    expect(result).to eq(:performed)
    expect(log).to eq([["A", [1, 2]], ["B", []]])
    instances = chain.retrieve
    expect(instances.map(&:class)).to eq([classes["A"], classes["B"]])
    expect(chain.retrieve.first).not_to equal(instances.first)
  end

  it "builds a lone middleware afresh for each call and passes it the job's arguments" do
    seen = []
    chain.add(Class.new do
      define_method(:initialize) { |*args| @args = args }
      define_method(:call) do |*job, &block|
        seen << [object_id, @args, job]
        block.call
      end
    end, :setting)
    expect(chain.invoke(:worker, { "jid" => "1" }, "default") { :pushed }).to eq(:pushed)
    chain.invoke(:worker, { "jid" => "2" }, "default") { :pushed }
    expect(seen.map { |(_, args, job)| [args, job] }).to eq(
      [[[:setting], [:worker, { "jid" => "1" }, "default"]], [[:setting], [:worker, { "jid" => "2" }, "default"]]]
    )
    expect(seen.first.first).not_to eq(seen.last.first)
  end

  # The client's call: same order, arguments, fresh instances and result as invoke, for an
  # empty chain, a lone middleware and several.
  it "invokes a push's chain as invoke does" do
    seen = []
    recorder = lambda do |name|
      Class.new do
        define_method(:call) do |*push, &block|
          seen << [name, object_id, push]
          block.call
        end
      end
    end
    push = [:klass, { "jid" => "1" }, "default", :pool]
    expect(chain.invoke_client(*push) { :stored }).to eq(:stored)
    chain.add(recorder.call("A"))
    2.times { expect(chain.invoke_client(*push) { :stored }).to eq(:stored) }
    chain.add(recorder.call("B"))
    expect(chain.invoke_client(*push) { :stored }).to eq(:stored)
    expect(seen.map { |(name, _, args)| [name, args] }).to eq([["A", push]] * 3 + [["B", push]])
    expect(seen.map { |(_, id, _)| id }.uniq.size).to eq(4)
    chain.add(Class.new { define_method(:call) { |*| :refused } })
    expect(chain.invoke_client(*push) { :stored }).to eq(:refused)
  end

  it "stops when a middleware does not yield" do
    chain.add(Class.new { define_method(:call) { |*| :halted } })
    ran = false
    expect(chain.invoke { ran = true }).to eq(:halted)
    expect(ran).to be(false)
  end

  it "yields straight through when empty" do
    expect(chain.invoke { 42 }).to eq(42)
  end

  it "gives middleware that wants it the configuration" do
    config = Sidekiq::Config.new
    configured = Class.new do
      include Sidekiq::ServerMiddleware

      def call(*)
        yield
      end
    end
    described_class.new(config).tap { |c| c.add(configured) }.retrieve.each do |middleware|
      expect(middleware.config).to equal(config)
      expect(middleware.logger).to equal(config.logger)
    end
  end

  it "dups independently" do
    chain.add(classes["A"])
    copy = chain.dup
    copy.add(classes["B"])
    expect(names).to eq(%w[A])
  end
end
