# frozen_string_literal: true

require "sidekiq"

module Sidekiq
  # Test modes for code that enqueues jobs (`require "sidekiq/testing"` in a spec helper):
  #
  # - fake (the mode once required): pushes are kept in memory, see Sidekiq::Queues,
  #   `HardJob.jobs`, `HardJob.drain` and `Sidekiq::Job.drain_all`;
  # - inline: pushes run the job at once, in the caller's thread, raising what it raises;
  # - disable: pushes go to Redis as usual.
  #
  # Without a block a mode applies to every thread. With a block it overrides that mode for
  # the current thread, for the block only; such overrides do not nest.
  class Testing
    class TestModeAlreadySetError < RuntimeError; end

    MODES = %i[fake inline disable].freeze
    # The key Sidekiq keeps the block override under (fiber-local, like Sidekiq).
    LOCAL_MODE_KEY = :__sidekiq_test_mode

    class << self
      attr_accessor :__global_test_mode

      def fake!(&block)
        __set_test_mode(:fake, &block)
      end

      def inline!(&block)
        __set_test_mode(:inline, &block)
      end

      def disable!(&block)
        __set_test_mode(:disable, &block)
      end

      def fake?
        __test_mode == :fake
      end

      def inline?
        __test_mode == :inline
      end

      def disabled?
        __test_mode == :disable
      end

      def enabled?
        !disabled?
      end

      # Where fake mode keeps pushed jobs; Sidekiq::Queues and the Job class methods read it.
      def job_store
        @job_store ||= JobStore.new
      end

      # The chain `process_job` (and so drain, perform_one and inline mode) runs jobs through,
      # yielded to a block for configuring. It is a chain of its own, empty until configured:
      # middleware written for real servers (retries, stats) has no place in a test run.
      def server_middleware(&configure)
        configure&.call(testing_chain)
        testing_chain
      end

      # The class named +name+ ("Billing::InvoiceJob", "::HardJob"); Sidekiq 6 had this.
      def constantize(name)
        name.to_s.delete_prefix("::").split("::").reduce(Object) { |scope, part| scope.const_get(part) }
      end

      # The mode in effect for the current thread: its block override, if any, wins.
      def __test_mode
        __local_test_mode || __global_test_mode
      end

      # With a block: +mode+ for this thread while the block runs, returning its value.
      # Without: +mode+ for every thread from now on.
      def __set_test_mode(mode, &block)
        raise "Unknown testing mode: #{mode}" unless MODES.include?(mode)

        block ? override_for_block(mode, &block) : (self.__global_test_mode = mode)
      end

      # Fiber-local, as Sidekiq's: a spec that runs code in another Fiber sees the global mode.
      def __local_test_mode
        Thread.current[LOCAL_MODE_KEY]
      end

      def __local_test_mode=(mode)
        Thread.current[LOCAL_MODE_KEY] = mode
      end

      # Sidekiq's rule: speak up only in a Rails app booted outside its test environment,
      # unless the app set $TESTING.
      def warn_outside_test_env
        return unless defined?(::Rails) && ::Rails.respond_to?(:env) && !::Rails.env.test?
        return if $TESTING # rubocop:disable Style/GlobalVars

        warn("Sidekiq testing API enabled outside the test environment. " \
             "Your jobs will not go to Redis.", uplevel: 2)
      end

      private

      # Made on first use, from the default configuration as a server's chain is.
      def testing_chain
        @testing_chain ||= Middleware::Chain.new(Sidekiq.default_configuration)
      end

      # One override per thread keeps it obvious which mode a push inside the block sees.
      def override_for_block(mode)
        take_local_override(mode)
        begin
          yield
        ensure
          # Also when the block raises: a failing spec must not hand its mode to the next one.
          self.__local_test_mode = nil
        end
      end

      # A second override is refused before anything changes, so the first stays in force.
      def take_local_override(mode)
        raise TestModeAlreadySetError, "Nesting test modes is not supported" if __local_test_mode

        self.__local_test_mode = mode
      end
    end
  end

  # Raised by `perform_one` when the class has no job waiting.
  class EmptyQueueError < RuntimeError; end
end

require "sidekiq/testing/job_store"
require "sidekiq/testing/queues"
require "sidekiq/testing/client"
require "sidekiq/testing/job"

Sidekiq::Testing.fake!
Sidekiq::Testing.warn_outside_test_env
