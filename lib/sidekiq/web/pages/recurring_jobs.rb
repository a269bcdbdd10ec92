# frozen_string_literal: true

require "ferrokiq/periodic/overview"

module Sidekiq
  class Web
    module Pages
      # `/recurring-jobs` (sidekiq-scheduler's path): every periodic job, from sidekiq-scheduler's
      # configuration or sidekiq-cron's API, with its rule, last and next run; "Enqueue now" and
      # the enabled switch (docs/design.md, §5.1). Added by `require "sidekiq-scheduler/web"` or
      # `require "sidekiq/cron/web"` (docs/web.md, §2). The forms name the entry in a field, so any
      # name works; the plugins' own paths (`/recurring-jobs/:name/enqueue`, `…/toggle`,
      # `/recurring-jobs/toggle-all`, sidekiq-cron's `/cron/namespaces/default/jobs/:name/…`)
      # are answered too, for scripts and bookmarks made with them; sidekiq-cron's pages lead here.
      module RecurringJobs
        PATH = "recurring-jobs"
        TAB = "RecurringJobs"
        SWITCHES = { "enable" => true, "disable" => false }.freeze

        # Helpers for the page.
        module Helpers
          def recurring_jobs_path
            "#{root_path}#{PATH}"
          end

          def recurring_jobs_done
            redirect_with_query(recurring_jobs_path)
          end

          # The entry of the sidekiq-cron job named in one of sidekiq-cron's paths.
          def cron_entry_in_path
            Ferrokiq::Periodic::Overview.cron_entry(route_params(:name), route_params(:namespace))
          end

          # The entry named by the form's `name` field, or a 404.
          def recurring_job_name!
            name = params["name"]
            halt(404) unless name.is_a?(String) && !name.empty?
            name
          end
        end

        # Registers the page once, however many of the plugins' web files are required.
        def self.install
          return if Web.tabs.value?(PATH)

          Web.register(self, name: "recurring_jobs", tab: TAB, index: PATH)
        end

        def self.registered(app)
          app.helpers(Helpers)
          app.get("/#{PATH}") do
            count = Paging.positive(params["count"], Paging::DEFAULT_COUNT, Paging::MAX_COUNT)
            @page = page_items(Ferrokiq::Periodic::Overview.rows, Paging.positive(params["page"], 1), count)
            Ferrokiq::Periodic::Overview.add_next_runs(@page.items)
            erb(:recurring_jobs)
          end
          actions(app)
          plugin_paths(app)
        end

        def self.actions(app)
          app.post("/#{PATH}/enqueue") do
            Ferrokiq::Periodic::Overview.enqueue_now(recurring_job_name!)
            recurring_jobs_done
          end
          SWITCHES.each do |action, enabled|
            app.post("/#{PATH}/#{action}") do
              Ferrokiq::Periodic::Overview.set_enabled(recurring_job_name!, enabled)
              recurring_jobs_done
            end
          end
          app.post("/#{PATH}/toggle-all") do
            enabled = params["action"] == "enable"
            Ferrokiq::Periodic::Store.get.each_key { |name| Ferrokiq::Periodic::Overview.set_enabled(name, enabled) }
            recurring_jobs_done
          end
        end

        # The plugins' paths: the entry in the path (a name without "/").
        def self.plugin_paths(app)
          app.post("/#{PATH}/:name/enqueue") do
            Ferrokiq::Periodic::Overview.enqueue_now(route_params(:name))
            recurring_jobs_done
          end
          app.post("/#{PATH}/:name/toggle") do
            name = route_params(:name)
            Ferrokiq::Periodic::Overview.set_enabled(name, !Ferrokiq::Periodic::Store.enabled?(name))
            recurring_jobs_done
          end
          cron_paths(app)
        end

        def self.cron_paths(app)
          app.get("/cron") { redirect(recurring_jobs_path) }
          app.get("/cron/namespaces/:namespace") { redirect(recurring_jobs_path) }
          app.get("/cron/namespaces/:namespace/jobs/:name") { redirect(recurring_jobs_path) }
          app.post("/cron/namespaces/:namespace/jobs/:name/enqueue") do
            Ferrokiq::Periodic::Overview.enqueue_now(cron_entry_in_path)
            recurring_jobs_done
          end
          SWITCHES.each do |action, enabled|
            app.post("/cron/namespaces/:namespace/jobs/:name/#{action}") do
              Ferrokiq::Periodic::Overview.set_enabled(cron_entry_in_path, enabled)
              recurring_jobs_done
            end
          end
        end
      end
    end
  end
end
