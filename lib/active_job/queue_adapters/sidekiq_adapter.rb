# frozen_string_literal: true

require "active_job"
require "sidekiq"
require "sidekiq/active_job/wrapper"

module Ferrokiq
  # Rails 6.1 (and later versions, until they dropped it) ships an adapter named like ours,
  # which `lookup(:sidekiq)` would autoload. It is loaded once, before ours is defined, so that
  # no later autoload or `require` of Rails' file can reopen our class; then its constant is
  # dropped.
  module BuiltInSidekiqAdapter
    module_function

    def retire(adapters)
      # A pending autoload would send Rails' `class SidekiqAdapter` back through the load path.
      drop(adapters)
      load_rails_file(adapters)
      drop(adapters)
    end

    # `constants` also lists a pending autoload, which `remove_const` then discards unloaded.
    def drop(adapters)
      adapters.send(:remove_const, :SidekiqAdapter) if adapters.constants(false).include?(:SidekiqAdapter)
    end

    # Found next to Rails' queue_adapters.rb: the load path may lead to our file instead.
    def load_rails_file(adapters)
      rails_dir = File.dirname(adapters.method(:lookup).source_location.first)
      path = File.join(rails_dir, "queue_adapters", "sidekiq_adapter.rb")
      require path if File.file?(path) && path != __FILE__
    rescue LoadError
      # Rails 7.1+ guard it with `gem "sidekiq"`, which fails in a bundle holding Ferrokiq
      # only; a file that cannot load cannot reopen our class later either.
      nil
    end
  end
end

module ActiveJob
  # Active Job's adapters, where `queue_adapter = :sidekiq` looks for `SidekiqAdapter`.
  module QueueAdapters
    Ferrokiq::BuiltInSidekiqAdapter.retire(self)

    # `queue_adapter = :sidekiq`: Active Job classes enqueued as Sidekiq enqueues them, under
    # JobWrapper with the Active Job class in `wrapped` and `args = [job.serialize]`.
    class SidekiqAdapter
      # The class name every Sidekiq client since 4.x (and Rails' own adapter) writes into
      # Active Job payloads, so a Ferrokiq server runs theirs with Ferrokiq's wrapper.
      class JobWrapper < Sidekiq::ActiveJob::Wrapper
      end

      # Active Job (Rails 7.2+) then holds back a perform_later made inside a database
      # transaction until it commits, so that the job cannot run before its records exist.
      def enqueue_after_transaction_commit?
        true
      end

      def enqueue(job)
        job.provider_job_id = JobWrapper.client_push(item_for(job.class, job.queue_name, [job.serialize]))
      end

      # A time that has already passed enqueues the job at once, as perform_at does.
      def enqueue_at(job, timestamp)
        item = item_for(job.class, job.queue_name, [job.serialize])
        at = Sidekiq::Job.timestamp_for(timestamp)
        item["at"] = at if at
        job.provider_job_id = JobWrapper.client_push(item)
      end

      # `perform_all_later` (Rails 7.1+): one push_bulk per class, queue and now-or-scheduled.
      # Returns how many were enqueued (a client middleware may stop some).
      def enqueue_all(jobs)
        batches = jobs.group_by { |job| [job.class, job.queue_name, job.scheduled_at.nil?] }
        batches.values.sum do |batch|
          jids = push_batch(batch)
          batch.zip(jids) { |job, jid| job.provider_job_id = jid }
          jids.compact.size
        end
      end

      private

      # Key order as Rails' and Sidekiq's adapters write it.
      def item_for(job_class, queue, args)
        { "class" => JobWrapper, "wrapped" => job_class, "queue" => queue, "args" => args }
      end

      def push_batch(jobs)
        first = jobs.first
        item = item_for(first.class, first.queue_name, jobs.map { |job| [job.serialize] })
        item["at"] = jobs.map { |job| job.scheduled_at.to_f } if first.scheduled_at
        JobWrapper.build_client.push_bulk(item)
      end
    end
  end
end
