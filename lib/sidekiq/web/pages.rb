# frozen_string_literal: true

require "sidekiq/web/pages/dashboard"
require "sidekiq/web/pages/queues"
require "sidekiq/web/pages/busy"
require "sidekiq/web/pages/job_sets"
require "sidekiq/web/pages/metrics"
require "sidekiq/web/pages/locale"

module Sidekiq
  # (Sidekiq::Web: see sidekiq/web.rb.)
  class Web
    # The built-in pages, one module each, registered before any extension so that their
    # routes match first.
    module Pages
      ALL = [Dashboard, Queues, Busy, Retries, Scheduled, Morgue, Metrics, Locale].freeze
    end

    Pages::ALL.each { |page| page.registered(WebApplication) }
  end
end
