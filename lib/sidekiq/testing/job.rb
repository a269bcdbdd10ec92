# frozen_string_literal: true

module Sidekiq
  # The testing API on job classes (`HardJob.jobs`, `.drain`, ...) and on Sidekiq::Job
  # itself (`Sidekiq::Job.jobs`, `.clear_all`, `.drain_all`; also as Sidekiq::Worker).
  module Job
    # Class methods each job class gains.
    module ClassMethods
      # The queue named in the class's options.
      def queue
        get_sidekiq_options["queue"]
      end

      # This class's jobs in fake mode, oldest first (the live list, not a copy).
      def jobs
        Queues.jobs_by_class[to_s]
      end

      # Forgets this class's jobs, and every job in the class's queue.
      def clear
        Queues.clear_for(queue, to_s)
      end

      # Runs this class's jobs until none are left, including jobs they push.
      def drain
        perform_one while jobs.any?
      end

      # Runs (and removes) this class's oldest job.
      def perform_one
        raise EmptyQueueError, "perform_one called with empty job queue" if jobs.empty?

        job = jobs.first
        Queues.delete_for(job["jid"], job["queue"], to_s)
        process_job(job)
      end

      # Runs one job Hash through Sidekiq::Testing.server_middleware.
      def process_job(job)
        instance = new
        instance.jid = job["jid"]
        instance.bid = job["bid"] if instance.respond_to?(:bid=)
        Testing.server_middleware.invoke(instance, job, job["queue"]) { execute_job(instance, job["args"]) }
      end

      def execute_job(worker, args)
        worker.perform(*args)
      end
    end

    class << self
      # Every job in fake mode, across queues.
      def jobs
        Queues.jobs_by_queue.values.flatten(1)
      end

      def clear_all
        Queues.clear_all
      end

      # Drains class after class until no job of any class is left.
      def drain_all
        until (names = jobs.map { |job| job["class"] }.uniq).empty?
          refuse_orphans(names)
          names.each { |name| Testing.constantize(name).drain }
        end
      end

      private

      # A class's drain runs what is in its own list. Jobs left only in a queue's list (the
      # class was cleared while it had jobs in some other queue) would make Sidekiq loop
      # forever here; say so instead and leave them where they are.
      def refuse_orphans(names)
        return unless names.all? { |name| Queues.jobs_by_class[name].empty? }

        raise "drain_all cannot run #{jobs.size} job(s) of #{names.join(", ")}: they are in Sidekiq::Queues " \
              "but not in their class's jobs (was the class cleared with .clear?)"
      end
    end
  end
end
