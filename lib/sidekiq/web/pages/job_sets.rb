# frozen_string_literal: true

module Sidekiq
  class Web
    module Pages
      # The pages of the three job sets (`/retries`, `/scheduled`, `/morgue`): a list a page at a
      # time in the set's order, or the entries matching `substr`; one entry's page (key
      # "<score>-<jid>"); actions on one entry, on the checked ones (`key[]`) and on all.
      module JobSets
        # How one set's pages differ from the others'. Actions are the params/button names;
        # the `*_shown` lists are the buttons offered, the others what a POST accepts.
        Kind = Struct.new(:path, :set_class, :reverse, :title, :time_label, :errors, :accepted, :shown,
                          :all_actions, keyword_init: true) do
          def set
            set_class.new
          end
        end

        # What each button does to one entry (SortedEntry's methods).
        ENTRY_ACTIONS = { "retry" => :retry, "add_to_queue" => :add_to_queue, "kill" => :kill,
                          "delete" => :delete }.freeze
        # What each "all" route does to the set.
        ALL_ACTIONS = {
          "retry" => :retry_all.to_proc,
          "delete" => :clear.to_proc,
          "kill" => :kill_all.to_proc,
          "add_to_queue" => :add_all_to_queue.to_proc
        }.freeze
        BUTTON_LABELS = { "retry" => "RetryNow", "add_to_queue" => "AddToQueue", "kill" => "Kill",
                          "delete" => "Delete" }.freeze
        ALL_LABELS = { "retry" => "RetryAll", "add_to_queue" => "AddAllToQueue", "kill" => "KillAll",
                       "delete" => "DeleteAll" }.freeze
        CONFIRMS = { "kill" => "ConfirmKill", "delete" => "ConfirmDelete" }.freeze
        ALL_CONFIRMS = { "retry" => "ConfirmRetryAll", "add_to_queue" => "ConfirmAddAllToQueue",
                         "kill" => "ConfirmKillAll", "delete" => "ConfirmDeleteAll" }.freeze

        RETRIES = Kind.new(path: "retries", set_class: Sidekiq::RetrySet, reverse: false, title: "Retries",
                           time_label: "NextRetry", errors: true, accepted: %w[retry delete kill],
                           shown: %w[retry delete kill], all_actions: %w[delete retry kill])
        SCHEDULED = Kind.new(path: "scheduled", set_class: Sidekiq::ScheduledSet, reverse: false, title: "Scheduled",
                             time_label: "RunsAt", errors: false, accepted: %w[add_to_queue delete],
                             shown: %w[add_to_queue delete], all_actions: %w[delete add_to_queue])
        MORGUE = Kind.new(path: "morgue", set_class: Sidekiq::DeadSet, reverse: true, title: "Dead",
                          time_label: "DiedAt", errors: true, accepted: %w[retry delete kill],
                          shown: %w[retry delete], all_actions: %w[delete retry])

        # Fields the entry page shows in its own rows rather than in the list of all fields.
        DETAILED = %w[error_backtrace].freeze

        # Helpers for the job set pages.
        module Helpers
          def job_set_path(kind)
            "#{root_path}#{kind.path}"
          end

          def job_entry_key(entry)
            job_params(entry, entry.score)
          end

          def job_entry_path(kind, entry)
            "#{job_set_path(kind)}/#{CGI.escape(job_entry_key(entry))}"
          end

          # Whether the entry can be addressed by its key (an unreadable payload has no jid).
          def addressable?(entry)
            entry.jid.is_a?(String) && !entry.jid.empty?
          end

          # The active `substr` filter, or nil.
          def job_filter
            substr = params["substr"]
            substr.is_a?(String) && !substr.empty? ? substr : nil
          end

          # The entries for the list: a page of the set, or of the entries matching the filter.
          def job_set_page(kind)
            current = Paging.positive(params["page"], 1)
            count = Paging.positive(params["count"], Paging::DEFAULT_COUNT, Paging::MAX_COUNT)
            set = kind.set
            return filtered_page(set, job_filter, current, count, kind.reverse) if job_filter

            found = page(set.name, current, count, reverse: kind.reverse)
            found.items = found.items.map { |member, score| Sidekiq::SortedEntry.new(set, score, member) }
            found
          end

          # The matching entries, in the set's order: the page and the count from Rust
          # (SortedSet#scan_page), or else from JobSet#scan over the whole set in Ruby.
          def filtered_page(set, substr, current, count, reverse)
            total, found = set.scan_page(substr, (current - 1) * count, count, reverse:)
            return scanned_page(set, substr, current, count, reverse) unless total

            items = found.map { |member, score| Sidekiq::SortedEntry.new(set, score, member) }
            Paging::Page.new(items, current, total, count)
          end

          # The matching entries from JobSet#scan, keeping only as many in Ruby as the requested
          # page needs.
          def scanned_page(set, substr, current, count, reverse)
            wanted = current * count
            kept = []
            total = 0
            set.scan(substr) do |entry|
              total += 1
              kept << entry
              kept = in_set_order(kept, reverse).first(wanted) if kept.size >= (2 * wanted) + 64
            end
            items = in_set_order(kept, reverse)[(current - 1) * count, count] || []
            Paging::Page.new(items, current, total, count)
          end

          def in_set_order(entries, reverse)
            sorted = entries.sort_by { |entry| [entry.score, entry.value.to_s] }
            reverse ? sorted.reverse : sorted
          end

          # The entry a "<score>-<jid>" key names, or nil; nil too for a malformed key.
          def job_entry(kind, key)
            return unless entry_key?(key)

            kind.set.fetch(*parse_params(key)).first
          end

          # Whether +key+ has the "<score>-<jid>" form.
          def entry_key?(key)
            _, jid = parse_params(key)
            jid.is_a?(String) && !jid.empty?
          end

          # The key in the request's path: the `:key` segment or, for a jid holding a "/" (which
          # the `:key` segment cannot match), everything after the list's path.
          def requested_key(kind)
            route_params(:key) || Rack::Utils.unescape(env["PATH_INFO"].to_s).delete_prefix("/#{kind.path}/")
          end

          # The entry of the request's key, or a 404.
          def job_entry!(kind)
            entry = job_entry(kind, requested_key(kind))
            halt(404) unless entry
            entry
          end

          # The first accepted action the form asked for (by its button's name), or nil.
          def requested_action(kind)
            kind.accepted.find { |action| params[action] }
          end

          def apply_action(action, entry)
            entry.public_send(ENTRY_ACTIONS.fetch(action))
          end

          # [label, value] for every field of the job, in its stored order; values other than
          # strings as JSON.
          def job_fields(entry)
            entry.item.filter_map do |name, value|
              next if DETAILED.include?(name)

              [name, value.is_a?(String) ? value : Sidekiq.dump_json(value)]
            end
          end

          # The job's error in one line, "Class: message".
          def job_error(entry)
            [entry["error_class"], entry["error_message"]].compact.map(&:to_s).join(": ")
          end

          # The entry's backtrace lines (decompressed by the Data API), [] when there are none or
          # they cannot be read.
          def job_backtrace(entry)
            Array(entry.error_backtrace).map(&:to_s)
          rescue StandardError
            []
          end

          def job_time(value)
            relative_time(Ferrokiq::Timestamp.time(value))
          end
        end

        def self.register(app, kind)
          app.helpers(Helpers)
          register_all(app, kind)
          register_pages(app, kind)
          register_actions(app, kind)
        end

        # Literal `/all/...` routes first, so that they win over `/:key`.
        def self.register_all(app, kind)
          kind.all_actions.each do |action|
            app.post("/#{kind.path}/all/#{action}") do
              ALL_ACTIONS.fetch(action).call(kind.set)
              redirect(job_set_path(kind))
            end
          end
        end

        def self.register_pages(app, kind)
          app.get("/#{kind.path}") do
            @kind = kind
            @filter = job_filter
            @page = job_set_page(kind)
            erb(:job_set)
          end

          show = proc do
            @kind = kind
            @entry = job_entry!(kind)
            erb(:job_entry)
          end
          app.get("/#{kind.path}/:key", &show)
          app.get("/#{kind.path}/*", &show)
        end

        def self.register_actions(app, kind)
          app.post("/#{kind.path}") do
            action = requested_action(kind)
            keys = params["key"]
            if action && keys.is_a?(Array)
              keys.grep(String).uniq.each do |key|
                entry = job_entry(kind, key)
                apply_action(action, entry) if entry
              end
            end
            redirect_with_query(job_set_path(kind))
          end

          act = proc do
            key = requested_key(kind)
            halt(404) unless entry_key?(key)
            entry = job_entry(kind, key)
            action = requested_action(kind)
            # An entry gone meanwhile (another tab, the server) is not an error: the list shows.
            apply_action(action, entry) if entry && action
            redirect_with_query(job_set_path(kind))
          end
          app.post("/#{kind.path}/:key", &act)
          app.post("/#{kind.path}/*", &act)
        end
      end

      # `/retries`: failed jobs waiting for their next attempt, soonest first.
      module Retries
        def self.registered(app)
          JobSets.register(app, JobSets::RETRIES)
        end
      end

      # `/scheduled`: jobs waiting for their time, soonest first.
      module Scheduled
        def self.registered(app)
          JobSets.register(app, JobSets::SCHEDULED)
        end
      end

      # `/morgue`: the dead set, most recent death first.
      module Morgue
        def self.registered(app)
          JobSets.register(app, JobSets::MORGUE)
        end
      end
    end
  end
end
