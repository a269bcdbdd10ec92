# frozen_string_literal: true

require_relative "../testing_mode/runner"

# `require "sidekiq/testing"` changes every push in the process that loads it, so its examples
# (spec/testing_mode/testing/*_examples.rb) run in a process of their own. To run them directly:
#   rspec --options spec/testing_mode/rspec.opts spec/testing_mode/testing
RSpec.describe "Sidekiq::Testing (require \"sidekiq/testing\")" do
  it "passes its own suite: modes, fake, inline, Redis, the wiki's examples, Sidekiq 6.4.1 parity" do
    result = TestingModeSuite.run("testing")
    expect(result).to be_passed, result.output
  end

  it "is not loaded into the process running the other specs" do
    expect(defined?(Sidekiq::Testing)).to be_nil
  end
end
