# frozen_string_literal: true

module Sidekiq
  # Where fake mode keeps pushed jobs: each job is in two lists, one per queue name and one
  # per class name. The per-class list is a plain Array that stays the same object as jobs
  # come and go, so `expect { ... }.to change(HardJob.jobs, :size)` works.
  module Queues
    class << self
      def [](queue)
        jobs_by_queue[queue]
      end

      def push(queue, klass, job)
        jobs_by_queue[queue] << job
        jobs_by_class[klass] << job
      end

      def jobs_by_queue
        @jobs_by_queue ||= Hash.new { |lists, name| lists[name] = [] }
      end

      def jobs_by_class
        @jobs_by_class ||= Hash.new { |lists, name| lists[name] = [] }
      end
      alias jobs_by_worker jobs_by_class

      def delete_for(jid, queue, klass)
        jobs_by_queue[queue.to_s].delete_if { |job| job["jid"] == jid }
        jobs_by_class[klass].delete_if { |job| job["jid"] == jid }
      end

      def clear_for(queue, klass)
        jobs_by_queue[queue.to_s].clear
        jobs_by_class[klass].clear
      end

      def clear_all
        jobs_by_queue.clear
        jobs_by_class.clear
      end
    end
  end
end
