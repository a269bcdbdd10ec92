# frozen_string_literal: true

# The app's controllers' base class (an API: no views, no sessions). Enqueuing needs Redis, and
# the pages need the database's tables: without them a page answers 503 saying what is missing
# and how to set it up, rather than Rails' error page.
class ApplicationController < ActionController::API
  # For the jobs this request enqueues too (app/models/current.rb).
  before_action { Current.request_id = request.request_id }

  rescue_from Sidekiq::RedisClientAdapter::BaseError do |error|
    render plain: redis_problem(error), status: :service_unavailable
  end

  rescue_from ActiveRecord::StatementInvalid do |error|
    raise error if Report.table_exists? && AuditEntry.table_exists?

    render plain: "The database has no tables yet: run `bin/rails db:schema:load` in examples/rails_app.\n",
           status: :service_unavailable
  end

  private

  # What went wrong talking to Redis, and what to do about it (the URL's password is redacted).
  def redis_problem(error)
    url = Sidekiq.redis_pool.url
    if error.is_a?(Sidekiq::RedisClientAdapter::CommandError)
      return "Redis at #{url} answered with an error: #{error.message}\n"
    end

    <<~TEXT
      Redis is not reachable at #{url}, so jobs cannot be enqueued or counted.
      (#{error.class}: #{error.message})

      Start a throwaway Redis for this app, in examples/rails_app:
        bin/redis
      It runs redis-server on REDIS_URL's port (default 6379) until `bin/redis stop`.
      Or point REDIS_URL at a Redis you have (e.g. REDIS_URL=redis://localhost:6380/0) and restart
      the app and bin/sidekiq with it.
    TEXT
  end
end
