# frozen_string_literal: true

# The demo's job classes: ordinary Sidekiq 7 jobs, nothing Ferrokiq-specific. Their queues
# carry this run's prefix (Demo.queue("mailers") is "ferrokiq-demo-3f9a1c-mailers"), so on a
# shared Redis they never mix with anyone else's jobs.

require_relative "demo"

# Sends a welcome email (pretends to).
class WelcomeMailerJob
  include Sidekiq::Job
  sidekiq_options queue: Demo.queue("mailers"), retry: 5

  def perform(user_id, locale)
    logger.info("welcome mail to user #{user_id} (#{locale})")
  end
end

# Charges a card; important enough for its own queue and a stored backtrace on failure.
class ChargeCardJob
  include Sidekiq::Job
  sidekiq_options queue: Demo.queue("critical"), backtrace: 10, tags: ["billing"]

  def perform(order_id, amount_cents, currency)
    logger.info("charging order #{order_id}: #{amount_cents} #{currency}")
  end
end

# Rebuilds a search index entry; pushed in bulk.
class ReindexJob
  include Sidekiq::Job
  sidekiq_options queue: Demo.queue("default")

  def perform(record_type, record_id)
    logger.debug("reindex #{record_type}##{record_id}")
  end
end

# Sends a reminder later.
class ReminderJob
  include Sidekiq::Worker # the Sidekiq 6 name still works
  sidekiq_options queue: Demo.queue("default")

  def perform(user_id, message)
    logger.info("remind #{user_id}: #{message}")
  end
end

# A payment gateway that is down: every attempt fails and goes to the retry set.
class FlakyGatewayJob
  include Sidekiq::Job
  sidekiq_options queue: Demo.queue("critical"), retry: 3, backtrace: 5

  def perform(order_id)
    raise IOError, "payment gateway timed out for order #{order_id}"
  end
end
