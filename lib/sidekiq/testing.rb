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

      # The chain `process_job` (and so drain, perform_one and inline mode) runs jobs through.
      # It is its own chain, empty until configured: the server's chain does not apply here.
      def server_middleware
        @server_middleware ||= Middleware::Chain.new(Sidekiq.default_configuration)
        yield @server_middleware if block_given?
        @server_middleware
      end

      # The class named +name+ ("Billing::InvoiceJob", "::HardJob"); Sidekiq 6 had this.
      def constantize(name)
        name.to_s.delete_prefix("::").split("::").reduce(Object) { |scope, part| scope.const_get(part) }
      end

      # The mode in effect for the current thread.
      def __test_mode
        __local_test_mode || __global_test_mode
      end

      def __set_test_mode(mode)
        raise "Unknown testing mode: #{mode}" unless MODES.include?(mode)
        return self.__global_test_mode = mode unless block_given?
        # One override per thread keeps it obvious which mode a push inside the block sees.
        raise TestModeAlreadySetError, "Nesting test modes is not supported" if __local_test_mode

        self.__local_test_mode = mode
        begin
          yield
        ensure
          self.__local_test_mode = nil
        end
      end

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
    end
  end

  # Raised by `perform_one` when the class has no job waiting.
  class EmptyQueueError < RuntimeError; end
end

require "sidekiq/testing/queues"
require "sidekiq/testing/client"
require "sidekiq/testing/job"

Sidekiq::Testing.fake!
Sidekiq::Testing.warn_outside_test_env
