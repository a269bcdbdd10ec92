# frozen_string_literal: true

module Sidekiq
  # Sidekiq's public face of fake mode's job store (Sidekiq::Testing::JobStore): specs and
  # gems written for Sidekiq call these names, so they stay, each handing straight over to
  # the store.
  module Queues
    class << self
      def [](queue)
        store.in_queue(queue)
      end

      def push(queue, klass, job)
        store.add(job, queue:, class_name: klass)
      end

      def jobs_by_queue
        store.queue_index
      end

      def jobs_by_class
        store.class_index
      end
      # Sidekiq 6 called job classes workers; older specs still do.
      alias jobs_by_worker jobs_by_class

      def delete_for(jid, queue, klass)
        store.remove(jid, queue:, class_name: klass)
      end

      def clear_for(queue, klass)
        store.empty(queue:, class_name: klass)
      end

      def clear_all
        store.reset
      end

      private

      def store
        Testing.job_store
      end
    end
  end
end
