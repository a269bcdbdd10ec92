# frozen_string_literal: true

require "active_job"
require "sidekiq/active_job"

module Sidekiq
  module ActiveJob
    # The job class Sidekiq 8 writes into Active Job payloads (`"class":
    # "Sidekiq::ActiveJob::Wrapper"`, with the Active Job class in `wrapped`). Its single
    # argument is the Active Job's serialized form; the jid becomes the job's provider_job_id.
    class Wrapper
      include Sidekiq::Job

      def perform(job_data)
        ::ActiveJob::Base.execute(job_data.merge("provider_job_id" => jid))
      end
    end
  end
end
