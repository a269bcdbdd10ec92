# frozen_string_literal: true

module Sidekiq
  # Rack-like middleware around pushes (client) and job execution (server).
  module Middleware
    # An ordered list of middleware classes. Each invocation builds fresh instances, so
    # middleware may keep per-call state in instance variables.
    class Chain
      include Enumerable

      def initialize(config = nil)
        @config = config
        @entries = nil
        yield self if block_given?
      end

      def initialize_copy(other)
        super
        @entries = other.entries.dup
      end

      def entries
        @entries ||= []
      end

      def each(&block)
        entries.each(&block)
      end

      def copy_for(config)
        chain = self.class.new(config)
        chain.entries.replace(entries)
        chain
      end

      def remove(klass)
        entries.delete_if { |entry| entry.klass == klass }
      end

      def add(klass, *args)
        remove(klass)
        entries << Entry.new(@config, klass, *args)
      end
      alias use add

      def prepend(klass, *args)
        remove(klass)
        entries.insert(0, Entry.new(@config, klass, *args))
      end

      # Moves (or adds) +newklass+ in front of +oldklass+; to the front if +oldklass+ is absent.
      def insert_before(oldklass, newklass, *args)
        entry = take_or_build(newklass, args)
        entries.insert(index_of(oldklass) || 0, entry)
      end

      # Moves (or adds) +newklass+ right after +oldklass+; to the end if +oldklass+ is absent.
      def insert_after(oldklass, newklass, *args)
        entry = take_or_build(newklass, args)
        entries.insert((index_of(oldklass) || (entries.size - 1)) + 1, entry)
      end

      def exists?(klass)
        any? { |entry| entry.klass == klass }
      end
      alias include? exists?

      def empty?
        @entries.nil? || @entries.empty?
      end

      def retrieve
        entries.map(&:make_new)
      end

      def clear
        entries.clear
      end

      # Calls each middleware around the block. A middleware that does not yield stops the
      # chain; the value is the outermost middleware's return value.
      def invoke(*args, &block)
        return yield if empty?
        # One middleware (the usual client chain): no Array of instances and no recursion, which
        # were half of a bulk push's per-job cost in the chain (docs/performance.md, §6).
        return @entries.first.make_new.call(*args, &block) if @entries.size == 1

        traverse(retrieve, 0, args, &block)
      end

      # A push's pass (Sidekiq::Client): as invoke, but with a lone middleware (the usual
      # client chain) no Array at all, where invoke's splat built one for every job pushed.
      def invoke_client(job_class, job, queue, redis_pool, &block)
        return yield if empty?
        return @entries.first.make_new.call(job_class, job, queue, redis_pool, &block) if @entries.size == 1

        traverse(retrieve, 0, [job_class, job, queue, redis_pool], &block)
      end

      private

      def index_of(klass)
        entries.index { |entry| entry.klass == klass }
      end

      def take_or_build(klass, args)
        index = index_of(klass)
        index ? entries.delete_at(index) : Entry.new(@config, klass, *args)
      end

      def traverse(chain, index, args, &block)
        return yield if index >= chain.size

        chain[index].call(*args) { traverse(chain, index + 1, args, &block) }
      end
    end

    # A middleware class and the arguments its instances are built with.
    class Entry
      attr_reader :klass

      def initialize(config, klass, *args)
        @config = config
        @klass = klass
        @args = args
      end

      def make_new
        middleware = @klass.new(*@args)
        middleware.config = @config if @config && middleware.respond_to?(:config=)
        middleware
      end
    end
  end

  # Included by middleware that wants the configuration's logger and Redis.
  module ServerMiddleware
    attr_accessor :config

    def redis_pool
      config.redis_pool
    end

    def logger
      config.logger
    end

    def redis(&block)
      config.redis(&block)
    end
  end

  ClientMiddleware = ServerMiddleware
end
