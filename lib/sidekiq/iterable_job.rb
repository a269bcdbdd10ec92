# frozen_string_literal: true

require "sidekiq/job"
require "sidekiq/job/iterable"

module Sidekiq
  # A job that walks a sequence and can stop and resume partway (Sidekiq 7.3's API):
  #
  #   class NotifyUsersJob
  #     include Sidekiq::IterableJob
  #
  #     def build_enumerator(plan_id, cursor:)
  #       active_record_records_enumerator(User.where(plan_id:), cursor:)
  #     end
  #
  #     def each_iteration(user, _plan_id)
  #       user.notify_about_the_new_plan
  #     end
  #   end
  #
  # A shutdown (TERM, a deploy) stops the job between two items, saves the cursor and puts the
  # job back on its queue; the next run starts at the saved cursor. Callbacks: on_start,
  # on_resume, on_stop, on_complete, around_iteration. Cancel with
  # `Sidekiq::Client.new.cancel!(jid)`. See Sidekiq::Job::Iterable.
  module IterableJob
    def self.included(base)
      base.include(Sidekiq::Job)
      base.include(Sidekiq::Job::Iterable)
    end
  end
end
