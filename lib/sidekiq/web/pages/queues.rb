# frozen_string_literal: true

module Sidekiq
  class Web
    module Pages
      # `/queues`: every queue with its size and latency; `/queues/:name`: its jobs, a page at a
      # time, newest first (or oldest first with direction=asc); deleting a queue or one job.
      module Queues
        NAME = /\A[a-z_:.\-0-9]+\z/i

        # Helpers for the queue pages.
        module Helpers
          # [name, size, latency] for every queue, in one round trip after the names.
          def queue_rows
            names = Sidekiq::Queue.all.map(&:name)
            replies = Sidekiq.redis do |conn|
              conn.pipelined do |pipe|
                names.each do |name|
                  pipe.call("LLEN", "queue:#{name}")
                  pipe.call("LINDEX", "queue:#{name}", -1)
                end
              end
            end
            names.zip(replies.each_slice(2)).map do |name, (size, oldest)|
              [name, size, Sidekiq::JobRecord.latency_of(oldest)]
            end
          end

          def queue_name!
            name = route_params(:name)
            halt(404) unless name.is_a?(String) && name.match?(NAME)
            name
          end

          def queue_path(name)
            "#{root_path}queues/#{CGI.escape(name)}"
          end
        end

        def self.registered(app)
          app.helpers(Helpers)

          app.get("/queues") do
            @queues = queue_rows
            erb(:queues)
          end

          app.get("/queues/:name") do
            @name = queue_name!
            @ascending = params["direction"] == "asc"
            @page = page("queue:#{@name}", Paging.positive(params["page"], 1),
                         Paging.positive(params["count"], Paging::DEFAULT_COUNT, Paging::MAX_COUNT),
                         reverse: @ascending)
            @jobs = @page.items.map { |member, position| [Sidekiq::JobRecord.new(member, @name), position] }
            erb(:queue)
          end

          mutations(app)
        end

        def self.mutations(app)
          app.post("/queues/:name") do
            name = queue_name!
            Sidekiq::Queue.new(name).clear if params["delete"]
            redirect("#{root_path}queues")
          end

          app.post("/queues/:name/delete") do
            name = queue_name!
            value = params["key_val"]
            # Through the Data API, so a unique job's lock goes with it (docs/design.md, §24).
            Sidekiq::JobRecord.new(value, name).delete if value.is_a?(String)
            redirect_with_query(queue_path(name))
          end
        end
      end
    end
  end
end
