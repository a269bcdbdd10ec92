# frozen_string_literal: true

require_relative "../testing_mode/runner"

# `require "sidekiq/testing/inline"` makes every push run its job at once, in the process that
# loads it, so its examples (spec/testing_mode/inline/*_examples.rb) run in a process of their
# own. To run them directly:
#   rspec --options spec/testing_mode/rspec.opts spec/testing_mode/inline
RSpec.describe "Sidekiq::Testing (require \"sidekiq/testing/inline\")" do
  it "passes its own suite" do
    result = TestingModeSuite.run("inline")
    expect(result).to be_passed, result.output
  end
end
