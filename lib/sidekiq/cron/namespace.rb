# frozen_string_literal: true

require "sidekiq"
require "sidekiq/cron/configuration"
require "ferrokiq/periodic/store"

module Sidekiq
  module Cron
    # sidekiq-cron's namespaces: each keeps its jobs in its own `cron_jobs:<namespace>` set and
    # `cron_job:<namespace>:<name>` hashes, and each job is the `schedules` entry named after that
    # hash, so the same job name in two namespaces is two schedules (docs/design.md, §5.1).
    module Namespace
      # Where a namespace stops in an entry name: a namespace holding it could not be told apart
      # from a job name that does (`cron_job:a:b:c`), so it is refused.
      SEPARATOR = ":"
      ENTRY_PREFIX = "cron_job:"

      module_function

      # The namespaces `Job.all("*")` and `Job.count("*")` cover: `available_namespaces` and the
      # default one. With `:auto`, those that hold jobs, read from the `schedules` entry names
      # (sidekiq-cron scans Redis with KEYS for them).
      def all
        listed = case (available = Sidekiq::Cron.configuration.available_namespaces)
                 when nil then []
                 when Array then available.map(&:to_s)
                 when :auto then in_use
                 else raise ArgumentError, "available_namespaces is an Array, :auto or nil, not #{available.inspect}"
                 end
        listed | [default]
      end

      def all_with_count
        all.map { |name| { count: count(name), name: } }
      end

      def count(name = default)
        Sidekiq.redis { |conn| conn.scard(jobs_key(name)) }
      end

      # An explicit list was configured (not nil, not :auto): a job naming another namespace is
      # put in the default one, as sidekiq-cron does.
      def available_namespaces_provided?
        available = Sidekiq::Cron.configuration.available_namespaces
        !available.nil? && available != :auto
      end

      def default
        Sidekiq::Cron.configuration.default_namespace.to_s
      end

      # The namespace a job given +name+ lands in: blank means the default one, and so does one
      # outside an explicit `available_namespaces` list (with a warning, as sidekiq-cron does).
      def resolve(name)
        name = name.to_s
        return default if name.empty?
        return name if !available_namespaces_provided? || all.include?(name)

        Sidekiq.logger.warn do
          "Cron job namespace #{name.inspect} is not in available_namespaces; the job goes to #{default.inspect}"
        end
        default
      end

      def jobs_key(name = default)
        "cron_jobs:#{blank_to_default(name)}"
      end

      def job_key(job_name, name = default)
        "#{ENTRY_PREFIX}#{blank_to_default(name)}#{SEPARATOR}#{job_name}"
      end

      # [namespace, job name] of a `schedules` entry written by Sidekiq::Cron::Job, else nil.
      def split_entry(entry_name)
        return nil unless entry_name.start_with?(ENTRY_PREFIX)

        namespace, job_name = entry_name.delete_prefix(ENTRY_PREFIX).split(SEPARATOR, 2)
        job_name && [namespace, job_name]
      end

      def blank_to_default(name)
        name.nil? || name.to_s.empty? ? default : name.to_s
      end

      def in_use
        names = Sidekiq.redis { |conn| conn.hkeys(Ferrokiq::Periodic::Store::SCHEDULES) }
        names.filter_map { |entry_name| split_entry(entry_name)&.first }.uniq
      end
    end
  end
end
