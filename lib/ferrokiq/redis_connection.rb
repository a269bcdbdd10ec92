# frozen_string_literal: true

module Ferrokiq
  # What `Sidekiq.redis { |conn| ... }` yields: the command interface of Sidekiq 7's
  # redis-client adapter (`call(*words)`, `pipelined`, `multi` and the usual command methods),
  # executed by the Rust core. It is safe to share between threads: commands from concurrent
  # callers are pipelined on one multiplexed connection.
  class RedisConnection
    # Commands Sidekiq's adapter defines as methods; anything else reaches `call` through
    # method_missing, as with redis-client's decorator.
    COMMANDS = %w[
      append bitcount bitfield bitfield_ro blpop brpop dbsize decr decrby del echo eval evalsha
      exists expire expireat flushall flushdb get getdel getset hdel hexists hget hgetall hincrby
      hincrbyfloat hkeys hlen hmget hmset hset hsetnx hvals incr incrby incrbyfloat keys
      lindex linsert llen lmove lpop lpos lpush lrange lrem lset ltrim mget mset persist pexpire
      ping pttl publish randomkey rename rpop rpoplpush rpush sadd scard script sdiff set
      setex setnx sinter sismember smembers smove spop srandmember srem strlen sunion time
      ttl type unlink zadd zcard zcount zincrby zpopmax zpopmin zrange zrangebyscore zrank zrem
      zremrangebyrank zremrangebyscore zrevrange zrevrangebyscore zrevrank zscore
    ].freeze

    # Builds the words of a command the way redis-client does: nested Arrays are flattened,
    # Hashes become key/value pairs, keyword arguments become flags (`ex: 10` => "ex", "10";
    # `nx: true` => "nx"; false or nil => omitted), and everything else goes through `to_s`.
    module CommandWords
      module_function

      def build(args, kwargs = nil)
        words = []
        args.each { |arg| append(words, arg) }
        kwargs&.each do |flag, value|
          next unless value

          words << flag.to_s
          append(words, value) unless value == true
        end
        words
      end

      def append(words, arg)
        case arg
        when String then words << arg
        when Symbol then words << arg.name
        when Array then arg.each { |item| append(words, item) }
        when Hash then arg.each { |key, value| append(words, key) && append(words, value) }
        else words << arg.to_s
        end
      end
    end

    # Collects commands for `pipelined` and `multi`; each method returns nil and the replies
    # come back from the block's call in order.
    class Batch
      attr_reader :commands

      def initialize
        @commands = []
      end

      def call(*args, **kwargs)
        @commands << CommandWords.build(args, kwargs)
        nil
      end

      COMMANDS.each do |name|
        define_method(name) { |*args, **kwargs| call(name, *args, **kwargs) }
      end

      def method_missing(name, *args, **kwargs)
        call(name, *args, **kwargs)
      end

      def respond_to_missing?(_name, _include_private = false)
        true
      end
    end

    attr_reader :native

    def initialize(native)
      @native = native
    end

    # Sends one command; the reply goes through the block when one is given.
    def call(*args, **kwargs)
      reply = @native.call(CommandWords.build(args, kwargs))
      block_given? ? yield(reply) : reply
    end

    # Sends the block's commands in one round trip; returns their replies.
    def pipelined
      batch = Batch.new
      yield batch
      @native.pipeline(batch.commands, false)
    end

    # Sends the block's commands inside MULTI/EXEC; returns their replies.
    def multi
      batch = Batch.new
      yield batch
      @native.pipeline(batch.commands, true)
    end

    # The cursor commands walk the whole collection as redis-client's do: each key or member is
    # yielded (HSCAN and ZSCAN yield field and value, member and score), and without a block
    # they return an Enumerator, so `conn.sscan("queues").to_a` is every member.
    def scan(*args, **kwargs, &block)
      return to_enum(:scan, *args, **kwargs) unless block

      walk_cursor(["SCAN"], args, kwargs, 1, &block)
    end

    def sscan(key, *args, **kwargs, &block)
      return to_enum(:sscan, key, *args, **kwargs) unless block

      walk_cursor(["SSCAN", key], args, kwargs, 1, &block)
    end

    def hscan(key, *args, **kwargs, &block)
      return to_enum(:hscan, key, *args, **kwargs) unless block

      walk_cursor(["HSCAN", key], args, kwargs, 2, &block)
    end

    def zscan(key, *args, **kwargs, &block)
      return to_enum(:zscan, key, *args, **kwargs) unless block

      walk_cursor(["ZSCAN", key], args, kwargs, 2, &block)
    end

    # INFO as a Hash of field => value, as Sidekiq's adapter returns it.
    def info
      call("INFO").lines(chomp: true).map { |line| line.split(":", 2) }.select { |pair| pair.size == 2 }.to_h
    end

    def evalsha(sha, keys, argv)
      call("EVALSHA", sha, keys.size, *keys, *argv)
    end

    COMMANDS.each do |name|
      next if method_defined?(name)

      define_method(name) { |*args, **kwargs| call(name, *args, **kwargs) }
    end

    # The server's connection is shared and reopened on demand; there is nothing to close.
    def close; end

    def connected?
      true
    end

    def inspect
      "#<#{self.class.name} #{@native.url}>"
    end

    private

    def walk_cursor(command, options, kwargs, per_item)
      cursor = "0"
      loop do
        cursor, page = call(*command, cursor, *options, **kwargs)
        page.each_slice(per_item) { |item| yield(*item) }
        break if cursor == "0"
      end
      nil
    end

    def method_missing(name, *args, **kwargs, &block)
      call(name, *args, **kwargs, &block)
    end

    def respond_to_missing?(_name, _include_private = false)
      true
    end
  end
end
