# frozen_string_literal: true

module Sidekiq
  # The testing API on job classes (`HardJob.jobs`, `.drain`, ...) and on Sidekiq::Job
  # itself (`Sidekiq::Job.jobs`, `.clear_all`, `.drain_all`; also as Sidekiq::Worker).
  # Everything reads and changes Sidekiq::Testing.job_store.
  module Job
    # Class methods each job class gains.
    module ClassMethods
      # The queue named in the class's options.
      def queue
        get_sidekiq_options["queue"]
      end

      # This class's jobs in fake mode, oldest first: the store's live Array, so a spec
      # holding it sees later pushes and runs.
      def jobs
        Testing.job_store.of_class(to_s)
      end

      # Forgets this class's jobs, and every job in the class's queue (whatever its class):
      # Sidekiq's rule, which specs that share a queue between classes rely on.
      def clear
        Testing.job_store.empty(queue:, class_name: to_s)
      end

      # Runs this class's jobs until none are left. Each job is looked up only when the one
      # before it is done, so jobs they push are run too.
      def drain
        while (job = Testing.job_store.take_oldest(to_s))
          process_job(job)
        end
      end

      # Runs (and removes) this class's oldest job.
      def perform_one
        job = Testing.job_store.take_oldest(to_s)
        raise EmptyQueueError, "perform_one called with empty job queue" unless job

        process_job(job)
      end

      # Runs one job Hash as a server would, except through Sidekiq::Testing.server_middleware
      # instead of the server's chain. Returns what the chain returns.
      def process_job(job)
        performer = instance_for_test_run(job)
        Testing.server_middleware.invoke(performer, job, job["queue"]) { execute_job(performer, job["args"]) }
      end

      # The innermost step, public so that an app can wrap every test run of a job (say in
      # its Rails executor) by overriding it.
      def execute_job(worker, args)
        worker.perform(*args)
      end

      # Payload ids a job may read from its instance during perform, by setter. The batch id
      # only reaches classes that know batches.
      IDS_FOR_PERFORM = { "jid" => :jid=, "bid" => :bid= }.freeze
      private_constant :IDS_FOR_PERFORM

      private

      # A fresh instance per job, as a server builds one.
      def instance_for_test_run(job)
        instance = new
        IDS_FOR_PERFORM.each do |key, setter|
          instance.public_send(setter, job[key]) if instance.respond_to?(setter)
        end
        instance
      end
    end

    class << self
      # Every job in fake mode, across queues.
      def jobs
        Testing.job_store.all
      end

      def clear_all
        Testing.job_store.reset
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
        return unless names.all? { |name| Testing.job_store.of_class(name).empty? }

        raise "drain_all cannot run #{jobs.size} job(s) of #{names.join(", ")}: they are in Sidekiq::Queues " \
              "but not in their class's jobs (was the class cleared with .clear?)"
      end
    end
  end
end
