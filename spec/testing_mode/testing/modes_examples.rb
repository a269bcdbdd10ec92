# frozen_string_literal: true

require "open3"
require "rbconfig"
require "sidekiq/testing"

RSpec.describe Sidekiq::Testing do
  it "is in fake mode once required" do
    expect(described_class.__global_test_mode).to eq(:fake)
    expect(described_class).to be_fake
    expect(described_class).to be_enabled
    expect(described_class).not_to be_inline
    expect(described_class).not_to be_disabled
  end

  it "switches the global mode without a block, for every thread" do
    described_class.inline!
    expect(described_class).to be_inline
    expect(Thread.new { described_class.__test_mode }.value).to eq(:inline)

    described_class.disable!
    expect(described_class).to be_disabled
    expect(described_class).not_to be_enabled
    expect(described_class).not_to be_fake
  end

  describe "block forms" do
    it "override the mode for the block, then fall back to the global mode" do
      inside = described_class.inline! { [described_class.inline?, described_class.fake?] }
      expect(inside).to eq([true, false])
      expect(described_class).to be_fake
    end

    it "return the block's value" do
      expect(described_class.disable! { :from_block }).to eq(:from_block)
    end

    it "apply to the current thread only" do
      described_class.inline! do
        expect(Thread.new { described_class.__test_mode }.value).to eq(:fake)
        Thread.new { AddJob.perform_async(1, 2) }.join
      end
      expect(AddJob.jobs.size).to eq(1)
      expect(JobLog.entries).to be_empty
    end

    it "end the override when the block raises" do
      expect { described_class.inline! { raise "boom" } }.to raise_error(RuntimeError, "boom")
      expect(described_class.__local_test_mode).to be_nil
      expect(described_class).to be_fake
    end

    it "do not nest" do
      described_class.fake! do
        expect { described_class.inline! { AddJob.perform_async(1, 2) } }
          .to raise_error(Sidekiq::Testing::TestModeAlreadySetError, "Nesting test modes is not supported")
        expect(described_class).to be_fake
      end
      expect(JobLog.entries).to be_empty
    end

    it "refuse a nested block of the same mode, keeping the outer override" do
      described_class.inline! do
        expect { described_class.inline! { nil } }.to raise_error(Sidekiq::Testing::TestModeAlreadySetError)
        expect(described_class.__local_test_mode).to eq(:inline)
      end
      expect(described_class.__local_test_mode).to be_nil
    end

    it "leave the global mode free to change inside the block" do
      described_class.fake! { described_class.disable! }
      expect(described_class).to be_disabled
    end
  end

  it "rejects unknown modes" do
    expect { described_class.__set_test_mode(:sometimes) }
      .to raise_error(RuntimeError, "Unknown testing mode: sometimes")
    expect { described_class.__set_test_mode(:sometimes) { nil } }.to raise_error(RuntimeError, /Unknown testing mode/)
    expect(described_class).to be_fake
  end

  it "constantizes class names, with or without a leading ::" do
    expect(described_class.constantize("Billing::InvoiceJob")).to eq(Billing::InvoiceJob)
    expect(described_class.constantize("::AddJob")).to eq(AddJob)
    expect { described_class.constantize("Billing::NoSuchJob") }.to raise_error(NameError)
  end

  describe ".server_middleware" do
    it "is a chain of its own, empty by default" do
      expect(described_class.server_middleware).to be_a(Sidekiq::Middleware::Chain)
      expect(described_class.server_middleware).to be_empty
      expect(described_class.server_middleware).not_to equal(Sidekiq.default_configuration.server_middleware)
    end

    it "yields the chain to a block" do
      described_class.server_middleware { |chain| chain.add RecordingServerMiddleware }
      expect(described_class.server_middleware.exists?(RecordingServerMiddleware)).to be(true)
    end
  end

  # Sidekiq warns only when a Rails app outside its test environment loads the testing API,
  # and $TESTING silences it.
  describe "the warning outside a test environment" do
    def stderr_of(prelude)
      script = "#{prelude}\nrequire \"sidekiq/testing\"\n"
      lib = File.expand_path("../../../lib", __dir__)
      _out, err, status = Open3.capture3(RbConfig.ruby, "-I", lib, "-e", script)
      expect(status).to be_success, err
      err
    end

    let(:rails) { "module Rails; def self.env = Struct.new(:test?).new(%s); end" }

    it "is printed for a Rails app in another environment" do
      expect(stderr_of(format(rails, "false"))).to include("Your jobs will not go to Redis")
    end

    it "is not printed in the Rails test environment, with $TESTING, or without Rails" do
      expect(stderr_of(format(rails, "true"))).to eq("")
      expect(stderr_of("#{format(rails, "false")}\n$TESTING = true")).to eq("")
      expect(stderr_of("")).to eq("")
    end
  end
end
