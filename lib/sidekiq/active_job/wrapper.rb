# frozen_string_literal: true

require "sidekiq/job"

module Sidekiq
  module ActiveJob
    # The job class Sidekiq 8 writes into Active Job payloads (`"class":
    # "Sidekiq::ActiveJob::Wrapper"`, with the Active Job class in `wrapped`). Its single
    # argument is the Active Job's serialized form. Defined with `sidekiq/active_job`, not
    # autoloaded: two jobs resolving it at once through an autoload and a `require` of this
    # file deadlock in Ruby's load locks. Active Job itself is needed only to run one.
    class Wrapper
      include Sidekiq::Job

      # The payload is Active Job's own (from `job.serialize`); a copy of it also carries this
      # jid so that the running job's `provider_job_id` matches the one perform_later returned.
      def perform(serialized_job)
        ::ActiveJob::Base.execute({ **serialized_job, "provider_job_id" => jid })
      end
    end
  end
end
