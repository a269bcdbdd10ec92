# frozen_string_literal: true

require "forwardable"
require "sidekiq/component"

module Sidekiq
  # A set of queues worked by threads of their own, as Sidekiq 7 has them: every server process
  # runs the "default" capsule (what `config.concurrency` and `config.queues` set) and any
  # others declared with `config.capsule(name) { |cap| ... }`. In the engine each capsule has
  # its own fetcher and hand-off, so a capsule of concurrency 1 runs its queues one job at a
  # time while the others run theirs in parallel (docs/design.md, §19).
  class Capsule
    include Component
    extend Forwardable

    attr_reader :name, :concurrency, :queues, :weights, :mode

    def_delegators :@config, :[], :[]=, :fetch, :key?, :has_key?, :merge!, :dig

    def initialize(name, config)
      @name = name
      @config = config
      self.concurrency = config[:concurrency]
      self.queues = ["default"]
    end

    def concurrency=(threads)
      @concurrency = Integer(threads)
    end

    # Accepts what `-q` and sidekiq.yml accept: "name", "name,weight" or [name, weight]. As in
    # Sidekiq 7, `queues` then lists each name as many times as its weight (at least once).
    def queues=(entries)
      pairs = Array(entries).map { |entry| queue_and_weight(entry) }
      @weights = pairs.to_h
      @queues = pairs.flat_map { |queue, weight| [queue] * [weight, 1].max }
      @mode = mode_for(@weights.values)
    end

    # [[name, weight], ...] in configuration order: what the engine fetches by.
    def queue_weights
      @weights.to_a
    end

    # Each queue name once, in configuration order.
    def queue_names
      @weights.keys
    end

    def redis_pool
      Thread.current[:sidekiq_redis_pool] || local_redis_pool
    end

    # A pool of the capsule's own, made on first use (the engine's fetching never uses it).
    def local_redis_pool
      @local_redis_pool ||= config.new_redis_pool(concurrency, name)
    end

    def redis(&block)
      raise ArgumentError, "requires a block" unless block_given?

      redis_pool.with(&block)
    end

    def inspect
      "#<#{self.class.name} #{name} concurrency=#{concurrency} queues=#{queue_weights.inspect}>"
    end

    private

    def queue_and_weight(entry)
      queue, weight = entry.is_a?(String) ? entry.split(",", 2) : Array(entry)
      [queue.to_s.strip, weight.to_i]
    end

    # How the queues are checked: all weights 0 is strict configuration order, all 1 a fresh
    # random order, anything else a weighted shuffle.
    def mode_for(weights)
      return :strict if weights.all?(&:zero?)

      weights.all? { |weight| weight == 1 } ? :random : :weighted
    end
  end
end
