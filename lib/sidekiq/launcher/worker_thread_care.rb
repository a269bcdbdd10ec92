# frozen_string_literal: true

module Sidekiq
  class Launcher
    # Looks after the worker threads (Sidekiq::Processor) from the launcher's upkeep loop.
    # Expects @processors, @config, #stopping? and #new_processor from the launcher.
    module WorkerThreadCare
      private

      # A worker thread can die of what no rescue sees (Thread#kill in a job, a bug here): a
      # new one takes its place, so the process never silently runs with fewer threads.
      def replace_dead_processors
        return if stopping?

        @processors.map!.with_index do |processor, index|
          next processor if processor.alive?

          report_dead_processor(processor, index)
          new_processor(processor.capsule, processor.lane)
        end
      end

      def report_dead_processor(processor, index)
        cause = death_cause(processor.thread)
        message = "Worker thread #{index + 1} of #{@processors.size} died" \
                  "#{cause ? " (#{cause.class}: #{cause.message})" : " (killed)"}; started a new one"
        @config.logger.error(message)
        @config.handle_exception(cause || EngineError.new(message), { context: "Worker thread died" })
      end

      # What ended a dead thread: Thread#value raises it again; a killed thread has none.
      def death_cause(thread)
        thread.value
        nil
      rescue Exception => e # rubocop:disable Lint/RescueException
        e
      end
    end
  end
end
