# frozen_string_literal: true

require "sidekiq/client"

module Sidekiq
  # Mixed into a class, makes its instances runnable by a Ferrokiq (or Sidekiq) server and
  # gives the class the enqueueing methods:
  #
  #   class ThumbnailJob
  #     include Sidekiq::Job
  #     sidekiq_options queue: "images", retry: 3
  #
  #     def perform(photo_id, width)
  #       Photo.find(photo_id).resize_to(width)
  #     end
  #   end
  #
  #   ThumbnailJob.perform_async(42, 320)
  #   ThumbnailJob.set(queue: "urgent").perform_in(60, 42, 640)
  module Job
    # Interval values below this are relative seconds; above, epoch timestamps.
    RELATIVE_LIMIT = 1_000_000_000

    # The `at` for an interval or timestamp, or nil when it is now or in the past (such a job
    # is pushed to its queue at once rather than scheduled).
    def self.timestamp_for(interval)
      value = interval.to_f
      if value < RELATIVE_LIMIT
        # An offset: only a positive one lies in the future.
        Time.now.to_f + value if value.positive?
      elsif value > Time.now.to_f
        value
      end
    end

    # sidekiq_options and the retry hooks, with inheritance: a subclass sees its parent's
    # settings until it sets its own.
    module Options
      def self.included(base)
        base.extend(ClassMethods)
        base.sidekiq_class_attribute(:sidekiq_options_hash, :sidekiq_retry_in_block,
                                     :sidekiq_retries_exhausted_block)
      end

      # Class-level settings.
      module ClassMethods
        # Merges options (queue:, retry:, backtrace:, dead:, tags:, retry_queue:, retry_for:,
        # and any other key, which is copied into every payload).
        def sidekiq_options(opts = {})
          self.sidekiq_options_hash = get_sidekiq_options.merge(string_keyed(opts)).freeze
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

        # Inheritable settings, as Sidekiq 7 gives apps and plugins: `name` and `name=` on the
        # class, a subclass reading its parent's value until it sets its own; and on instances,
        # which read the class's value until they set their own.
        def sidekiq_class_attribute(*names)
          names.each do |name|
            ivar = :"@#{name}"
            define_singleton_method(name) { inherited_setting(ivar) }
            define_singleton_method(:"#{name}=") { |value| instance_variable_set(ivar, value) }
            define_method(name) do
              instance_variable_defined?(ivar) ? instance_variable_get(ivar) : self.class.public_send(name)
            end
            attr_writer(name)
          end
        end

        private

        # Payloads round-trip through JSON, so options are kept with the String keys a server
        # will read back, one level deep into nested Hashes as well.
        def string_keyed(opts)
          opts.to_h.each_with_object({}) do |(key, value), stringified|
            stringified[key.to_s] = value.is_a?(Hash) ? value.transform_keys(&:to_s) : value
          end
        end

        # A class's own value, else its nearest ancestor's. Instance variables of a class are
        # set and read whole (no read-modify-write), so no lock is needed.
        def inherited_setting(ivar)
          return instance_variable_get(ivar) if instance_variable_defined?(ivar)

          superclass.send(:inherited_setting, ivar) if superclass.respond_to?(:inherited_setting, true)
        end
      end
    end

    attr_accessor :jid, :_context

    # Compared by name so the check needs no Rails loaded: an Active Job class already has
    # its own enqueueing API and adapter.
    def self.included(base)
      if base.ancestors.map(&:name).include?("ActiveJob::Base")
        raise ArgumentError, "Sidekiq::Job cannot be included in an ActiveJob: #{base.name}"
      end

      base.include(Options)
      base.extend(ClassMethods)
    end

    def logger
      Sidekiq.logger
    end

    # Only a job run by a processor has a context; one built by hand or run inline is never
    # being interrupted.
    def interrupted?
      return false unless @_context

      @_context.stopping? || false
    end

    # Per-push options: HardJob.set(queue: "critical", wait: 300).perform_async(1).
    class Setter
      include Sidekiq::JobUtil

      # The first set is just the first call of #set on empty options.
      def initialize(klass, opts)
        @klass = klass
        @opts = {}
        set(opts)
      end

      def set(options)
        options = options.transform_keys(&:to_s)
        delay = take_delay(options)
        @opts.merge!(options)
        at(delay) if delay
        self
      end

      def perform_async(*args)
        return perform_inline(*args) if @opts["sync"] == true

        @klass.client_push(item_for(args))
      end

      # Runs the job now, in this thread, as a server would run what this push stores: true,
      # or nil when a client or server middleware stopped it.
      def perform_inline(*args)
        message = inline_message(args)
        message && run_server_side(message)
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

      def item_for(args)
        @opts.merge("args" => args, "class" => @klass)
      end

      # Active Job spells a delay `wait_until` (a time) or `wait` (an interval); the first one
      # given becomes `at`.
      def take_delay(options)
        options.delete("wait_until") || options.delete("wait")
      end

      # The job after normalization and client middleware, read back from its JSON as a server
      # would fetch it (so perform sees strings for symbols, and so on); nil when stopped.
      def inline_message(args)
        config = Sidekiq.default_configuration
        job = normalize_item(item_for(args))
        admitted = config.client_middleware.invoke(job["class"], job, job["queue"], config.redis_pool) { job }
        Sidekiq.load_json(Sidekiq.dump_json(job)) if admitted
      end

      # True once perform has returned inside the server middleware; nil when one of them
      # did not yield (whatever the middleware itself returned).
      def run_server_side(message)
        performer = performer_for(message)
        performed = nil
        Sidekiq.default_configuration.server_middleware.invoke(performer, message, message["queue"]) do
          performer.perform(*message["args"])
          performed = true
        end
        performed
      end

      # A fresh instance carrying the ids perform may read; bid only for classes that take it.
      def performer_for(message)
        Object.const_get(message["class"]).new.tap do |performer|
          performer.jid = message["jid"]
          performer.bid = message["bid"] if performer.respond_to?(:bid=)
        end
      end

      def at(interval)
        timestamp = Job.timestamp_for(interval)
        @opts["at"] = timestamp if timestamp
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
        client_class = client_setting(:sidekiq_client_class, "client_class") { Sidekiq::Client }
        client_class.new(pool: client_setting(:sidekiq_redis_pool, "pool") { Sidekiq.default_configuration.redis_pool })
      end

      private

      # Both client settings resolve alike: a per-thread override (Client.via, a test) beats
      # the class's sidekiq_options, which beat the process-wide default from the block.
      def client_setting(thread_key, option_key)
        Thread.current[thread_key] || get_sidekiq_options[option_key] || yield
      end
    end
  end

  # Sidekiq 6 name, kept by Sidekiq 7.
  Worker = Job
end
