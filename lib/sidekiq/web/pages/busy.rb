# frozen_string_literal: true

module Sidekiq
  class Web
    module Pages
      # `/busy`: the server processes (quiet or stop one, or all) and the jobs running now.
      module Busy
        JOBS_PER_PAGE = 100

        # Helpers for the busy page.
        module Helpers
          # Processes by hostname, numbers within names in numeric order (host2 before host10).
          def sorted_processes
            Sidekiq::ProcessSet.new.sort_by do |process|
              parts = process["hostname"].to_s.split(/(\d+)/).map do |part|
                part.match?(/\A\d+\z/) ? [0, part.to_i, ""] : [1, 0, part]
              end
              [parts, process["pid"].to_i]
            end
          end

          # A page of the running jobs: from Rust when it can (WorkSet#page), else from all of
          # them in Ruby.
          def busy_jobs_page
            current = Paging.positive(params["page"], 1)
            count = Paging.positive(params["count"], JOBS_PER_PAGE, Paging::MAX_COUNT)
            total, items = Sidekiq::WorkSet.new.page((current - 1) * count, count)
            return page_items(Sidekiq::WorkSet.new.to_a, current, count) unless total

            Paging::Page.new(items, current, total, count)
          end

          def process_signal(process)
            if params["quiet"]
              process.quiet!
            elsif params["stop"]
              process.stop!
            end
          end
        end

        def self.registered(app)
          app.helpers(Helpers)

          app.get("/busy") do
            @processes = sorted_processes
            @page = busy_jobs_page
            erb(:busy)
          end

          mutations(app)
        end

        def self.mutations(app)
          app.post("/busy") do
            identity = params["identity"]
            if identity.is_a?(String) && !identity.empty?
              process = Sidekiq::ProcessSet[identity]
              process_signal(process) if process && !process.embedded?
            else
              Sidekiq::ProcessSet.new.each { |process| process_signal(process) unless process.embedded? }
            end
            redirect("#{root_path}busy")
          end
        end
      end
    end
  end
end
