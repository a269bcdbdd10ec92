# frozen_string_literal: true

module Sidekiq
  class Testing
    # Fake mode's memory: every pushed job, kept in two indexes at once, one keyed by queue
    # name and one by class name. Both point at the same job Hashes.
    #
    # Why two indexes rather than one list filtered on demand: tests hold on to the Array
    # `HardJob.jobs` returns (`expect { ... }.to change(HardJob.jobs, :size)`), so each class
    # needs a real Array that is changed in place, never rebuilt. Sidekiq::Queues, on the
    # other hand, hands out the same lists by queue name.
    #
    # Lists spring into existence when first asked for, as Sidekiq's do: a spec may read
    # `Sidekiq::Queues["default"]` or `HardJob.jobs` before anything was pushed and keep it.
    class JobStore
      # The live indexes (name => Array of jobs), as Sidekiq::Queues exposes them.
      attr_reader :queue_index, :class_index

      def initialize
        @queue_index = autovivifying_index
        @class_index = autovivifying_index
      end

      # The live list of jobs waiting in +queue+.
      def in_queue(queue)
        queue_index[queue]
      end

      # The live list of jobs of the class named +class_name+, oldest first.
      def of_class(class_name)
        class_index[class_name]
      end

      # Every job, queue after queue.
      def all
        queue_index.each_value.flat_map(&:itself)
      end

      # Indexes +job+ (by default under its own queue and class). Returns the class's list.
      def add(job, queue: job["queue"], class_name: job["class"])
        in_queue(queue) << job
        of_class(class_name) << job
      end

      # Drops every job with +jid+ from +queue+'s list and +class_name+'s list. A class's
      # `queue` option may be a Symbol while stored jobs name their queue with a String
      # (they went through JSON), hence the to_s. Returns the class's list.
      def remove(jid, queue:, class_name:)
        same_jid = ->(job) { job["jid"] == jid }
        in_queue(queue.to_s).reject!(&same_jid)
        of_class(class_name).tap { |jobs| jobs.reject!(&same_jid) }
      end

      # Empties +queue+'s list and +class_name+'s list, keeping both Arrays. Returns the
      # class's (now empty) list.
      def empty(queue:, class_name:)
        in_queue(queue.to_s).clear
        of_class(class_name).clear
      end

      # Forgets everything, lists included: Arrays handed out before are left as they were.
      # Returns the (empty) class index.
      def reset
        queue_index.clear
        class_index.clear
      end

      # Removes the oldest job of +class_name+ from both indexes and returns it, or nil when
      # the class has none. Removal comes first so that a job that raises is not run again.
      def take_oldest(class_name)
        job = of_class(class_name).first
        remove(job["jid"], queue: job["queue"], class_name:) if job
        job
      end

      private

      def autovivifying_index
        Hash.new { |index, name| index[name] = [] }
      end
    end
  end
end
