# frozen_string_literal: true

require "open3"
require "rbconfig"

# Runs one of the suites under spec/testing_mode/ in a fresh Ruby process: requiring
# sidekiq/testing there cannot leak into the process that runs the other specs.
module TestingModeSuite
  ROOT = File.expand_path("../..", __dir__)
  OPTIONS = File.join(__dir__, "rspec.opts")
  SUMMARY = /^(\d+) examples?, (\d+) failures?/
  TIMEOUT = 300

  Result = Struct.new(:output, :status, :examples, :failures) do
    def passed?
      status&.success? && examples.to_i.positive? && failures.to_i.zero?
    end
  end

  module_function

  # The result of `rspec` on spec/testing_mode/<name>, killed after TIMEOUT seconds.
  def run(name)
    env = ENV.to_h.reject { |key, _| key.start_with?("REDIS_") }
    command = [RbConfig.ruby, "-rrspec/core", "-e", "RSpec::Core::Runner.invoke", "--",
               "--options", OPTIONS, File.join("spec/testing_mode", name)]
    Open3.popen2e(env, *command, chdir: ROOT, unsetenv_others: true) do |stdin, out, waiter|
      stdin.close
      reader = Thread.new { out.read }
      status = waiter.join(TIMEOUT)&.value
      Process.kill("KILL", waiter.pid) unless status
      output = reader.value
      output += "\n[killed after #{TIMEOUT}s]" unless status
      counts = output[SUMMARY] && Regexp.last_match.captures.map(&:to_i)
      Result.new(output, status, *counts)
    end
  end
end
