# frozen_string_literal: true

require "sidekiq/client"

module Sidekiq
  # Include in a class to make it a Sidekiq job:
  #
  #   class HardJob
  #     include Sidekiq::Job
  #     sidekiq_options queue: "critical", retry: 5
  #
  #     def perform(name, count)
  #     end
  #   end
  #
  #   HardJob.perform_async("bob", 5)
  module Job
    # Interval values below this are relative seconds; above, epoch timestamps.
    RELATIVE_LIMIT = 1_000_000_000

    # The `at` for an interval or timestamp, or nil when it is now or in the past (such a job
    # is pushed to its queue at once rather than scheduled).
    def self.timestamp_for(interval)
      int = interval.to_f
      now = Time.now.to_f
      ts = int < RELATIVE_LIMIT ? now + int : int
      ts > now ? ts : nil
    end

    # sidekiq_options and the retry hooks, with inheritance: a subclass sees its parent's
    # settings until it sets its own.
    module Options
      def self.included(base)
        base.extend(ClassMethods)
      end

      # Class-level settings.
      module ClassMethods
        # Merges options (queue:, retry:, backtrace:, dead:, tags:, retry_queue:, retry_for:,
        # and any other key, which is copied into every payload).
        def sidekiq_options(opts = {})
          opts = opts.to_h { |key, value| [key.to_s, value.is_a?(Hash) ? value.transform_keys(&:to_s) : value] }
          self.sidekiq_options_hash = get_sidekiq_options.merge(opts).freeze
        end

        def get_sidekiq_options
          sidekiq_options_hash || Sidekiq.default_job_options
        end

        def sidekiq_retry_in(&block)
          self.sidekiq_retry_in_block = block
        end

        def sidekiq_retries_exhausted(&block)
          self.sidekiq_retries_exhausted_block = block
        end

        def sidekiq_options_hash
          inherited_setting(:@sidekiq_options_hash)
        end

        def sidekiq_options_hash=(hash)
          @sidekiq_options_hash = hash
        end

        def sidekiq_retry_in_block
          inherited_setting(:@sidekiq_retry_in_block)
        end

        def sidekiq_retry_in_block=(block)
          @sidekiq_retry_in_block = block
        end

        def sidekiq_retries_exhausted_block
          inherited_setting(:@sidekiq_retries_exhausted_block)
        end

        def sidekiq_retries_exhausted_block=(block)
          @sidekiq_retries_exhausted_block = block
        end

        private

        def inherited_setting(ivar)
          return instance_variable_get(ivar) if instance_variable_defined?(ivar)

          superclass.send(:inherited_setting, ivar) if superclass.respond_to?(:inherited_setting, true)
        end
      end

      def sidekiq_options_hash
        self.class.sidekiq_options_hash
      end

      def sidekiq_retry_in_block
        self.class.sidekiq_retry_in_block
      end

      def sidekiq_retries_exhausted_block
        self.class.sidekiq_retries_exhausted_block
      end
    end

    attr_accessor :jid, :_context

    def self.included(base)
      if base.ancestors.any? { |ancestor| ancestor.name == "ActiveJob::Base" }
        raise ArgumentError, "Sidekiq::Job cannot be included in an ActiveJob: #{base.name}"
      end

      base.include(Options)
      base.extend(ClassMethods)
    end

    def logger
      Sidekiq.logger
    end

    def interrupted?
      @_context&.stopping? || false
    end

    # Per-push options: HardJob.set(queue: "critical", wait: 300).perform_async(1).
    class Setter
      include Sidekiq::JobUtil

      def initialize(klass, opts)
        @klass = klass
        @opts = opts.transform_keys(&:to_s)
        interval = @opts.delete("wait_until") || @opts.delete("wait")
        at(interval) if interval
      end

      def set(options)
        hash = options.transform_keys(&:to_s)
        interval = hash.delete("wait_until") || hash.delete("wait")
        @opts.merge!(hash)
        at(interval) if interval
        self
      end

      def perform_async(*args)
        return perform_inline(*args) if @opts["sync"] == true

        @klass.client_push(@opts.merge("args" => args, "class" => @klass))
      end

      # Runs the job now, in this thread, as a server would run what this push stores: true,
      # or nil when a client or server middleware stopped it.
      def perform_inline(*args)
        message = inline_message(args) or return nil
        performer = Object.const_get(message["class"]).new
        performer.jid = message["jid"]
        performer.bid = message["bid"] if performer.respond_to?(:bid=)
        completed = false
        Sidekiq.default_configuration.server_middleware.invoke(performer, message, message["queue"]) do
          performer.perform(*message["args"])
          completed = true
        end
        completed || nil
      end
      alias perform_sync perform_inline

      def perform_bulk(args, batch_size: Client::DEFAULT_BATCH_SIZE)
        @klass.build_client.push_bulk(@opts.merge("class" => @klass, "args" => args, :batch_size => batch_size))
      end

      def perform_in(interval, *args)
        at(interval).perform_async(*args)
      end
      alias perform_at perform_in

      private

      # The job after normalization and client middleware, read back from its JSON as a server
      # would fetch it (so perform sees strings for symbols, and so on); nil when stopped.
      def inline_message(args)
        config = Sidekiq.default_configuration
        job = normalize_item(@opts.merge("args" => args, "class" => @klass))
        return unless config.client_middleware.invoke(job["class"], job, job["queue"], config.redis_pool) { job }

        Sidekiq.load_json(Sidekiq.dump_json(job))
      end

      def at(interval)
        ts = Job.timestamp_for(interval)
        @opts["at"] = ts if ts
        self
      end
    end

    # Enqueueing class methods.
    module ClassMethods
      def delay(*)
        raise ArgumentError, "Do not call .delay on a Sidekiq::Job class, call .perform_async"
      end

      def delay_for(*)
        raise ArgumentError, "Do not call .delay_for on a Sidekiq::Job class, call .perform_in"
      end

      def delay_until(*)
        raise ArgumentError, "Do not call .delay_until on a Sidekiq::Job class, call .perform_at"
      end

      def queue_as(queue)
        sidekiq_options("queue" => queue.to_s)
      end

      def set(options)
        Setter.new(self, options)
      end

      def perform_async(*args)
        client_push("args" => args, "class" => self)
      end

      def perform_inline(*args)
        Setter.new(self, {}).perform_inline(*args)
      end
      alias perform_sync perform_inline

      def perform_bulk(*args, **kwargs)
        Setter.new(self, {}).perform_bulk(*args, **kwargs)
      end

      # Runs after +interval+ seconds (or at an epoch timestamp); now or past enqueues at once.
      def perform_in(interval, *args)
        item = { "class" => self, "args" => args }
        at = Job.timestamp_for(interval)
        item["at"] = at if at
        client_push(item)
      end
      alias perform_at perform_in

      def client_push(item)
        raise ArgumentError, "Job payloads should contain no Symbols: #{item}" if item.any? do |key, _|
                                                                                    key.is_a?(::Symbol)
                                                                                  end

        pool = item.delete("pool")
        return build_client.push(item) unless pool

        Sidekiq::Client.via(pool) { build_client.push(item) }
      end

      def build_client
        pool = Thread.current[:sidekiq_redis_pool] || get_sidekiq_options["pool"] ||
               Sidekiq.default_configuration.redis_pool
        client_class = Thread.current[:sidekiq_client_class] || get_sidekiq_options["client_class"] || Sidekiq::Client
        client_class.new(pool:)
      end
    end
  end

  # Sidekiq 6 name, kept by Sidekiq 7.
  Worker = Job
end
