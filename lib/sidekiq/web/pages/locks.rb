# frozen_string_literal: true

require "ferrokiq/unique_jobs/lock_list"

module Sidekiq
  class Web
    module Pages
      # `/locks` (sidekiq-unique-jobs' path): the unique-job locks, a page at a time, newest
      # first, filtered by `filter`; `/locks/:digest`: one lock; deleting one or all of them
      # (docs/design.md, §24). Added by `require "sidekiq_unique_jobs/web"` (docs/web.md, §2).
      # The plugin deleted with GET links; here deletion is a POST with the CSRF token, the
      # digest in a form field.
      module Locks
        PATH = "locks"
        TAB = "Locks"

        # Helpers for the lock pages.
        module Helpers
          def locks_path
            "#{root_path}#{PATH}"
          end

          def lock_path(digest)
            "#{locks_path}/#{CGI.escape(digest)}"
          end

          # The active filter, or nil.
          def lock_filter
            filter = params["filter"]
            filter.is_a?(String) && !filter.empty? ? filter : nil
          end

          def lock_page
            current = Paging.positive(params["page"], 1)
            count = Paging.positive(params["count"], Paging::DEFAULT_COUNT, Paging::MAX_COUNT)
            total, pairs = Ferrokiq::UniqueJobs::LockList.page((current - 1) * count, count, filter: lock_filter)
            Paging::Page.new(Ferrokiq::UniqueJobs::LockList.details(pairs), current, total, count)
          end

          # The digest in the request's path (everything after `/locks/`, so a digest holding a
          # "/" works too), or a 404 when no such lock is listed.
          def requested_lock!
            digest = route_params(:digest) || Rack::Utils.unescape(env["PATH_INFO"].to_s).delete_prefix("/#{PATH}/")
            lock = Ferrokiq::UniqueJobs::LockList.find(digest)
            halt(404) unless lock
            lock
          end

          # When the lock expires (its TTL as a time, as every time is shown), or "never".
          def lock_expiry(lock)
            lock.ttl ? relative_time(Time.now + lock.ttl) : h(t("NoExpiry"))
          end

          # The lock's type when known, else what its digest (or the set listing it) says.
          def lock_type(lock)
            return lock.type if lock.type
            return t("RuntimeLock") if lock.runtime

            t(lock.expiring ? "ExpiringLock" : "UnknownLockType")
          end

          # A value of the lock's `:INFO` record as it reads in JSON (strings as they are).
          def lock_info_value(value)
            value.is_a?(String) ? value : Sidekiq.dump_json(value)
          end
        end

        # Registers the page once, however often its web file is required.
        def self.install
          return if Web.tabs.value?(PATH)

          Web.register(self, name: "locks", tab: TAB, index: PATH)
        end

        def self.registered(app)
          app.helpers(Helpers)
          app.get("/#{PATH}") do
            @filter = lock_filter
            @page = lock_page
            erb(:locks)
          end
          # Literal paths before `/locks/:digest`.
          app.post("/#{PATH}/delete_all") do
            Ferrokiq::UniqueJobs::LockList.delete_all
            redirect(locks_path)
          end
          app.post("/#{PATH}/delete") do
            digest = params["digest"]
            Ferrokiq::UniqueJobs::LockList.delete(digest) if digest.is_a?(String) && !digest.empty?
            redirect_with_query(locks_path)
          end
          show = proc do
            @lock = requested_lock!
            erb(:lock)
          end
          app.get("/#{PATH}/:digest", &show)
          app.get("/#{PATH}/*", &show)
        end
      end
    end
  end
end
