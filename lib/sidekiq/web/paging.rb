# frozen_string_literal: true

module Sidekiq
  class Web
    # Pages of a Redis list or sorted set, read in one round trip (only the page comes back),
    # and of an Array already in memory. Page numbers start at 1.
    module Paging
      DEFAULT_COUNT = 25
      MAX_COUNT = 1000

      # A page: the items with their position (0-based, in reading order), the page number and
      # the collection's size.
      Page = Struct.new(:items, :current_page, :total_size, :per_page) do
        def last_page
          [(total_size + per_page - 1) / per_page, 1].max
        end
      end

      module_function

      # A positive page number or page size from a request param; +default+ when absent or bad.
      def positive(value, default, max = nil)
        number = Integer(value.to_s, 10) if value.to_s.match?(/\A\d{1,9}\z/)
        number = default if number.nil? || number < 1
        max ? [number, max].min : number
      end

      # The +current_page+th page of +count+ items from +key+ (a list: from its head, or its
      # tail when +reverse+; a sorted set: lowest score first, or highest when +reverse+). Items
      # are [member, position] for lists, [member, score] for sorted sets.
      def page(key, current_page, count, reverse: false)
        first = (current_page - 1) * count
        last = first + count - 1
        Sidekiq.redis do |conn|
          case conn.call("TYPE", key)
          when "zset" then zset_page(conn, key, first, last, reverse)
          when "list" then list_page(conn, key, first, last, reverse)
          else [0, []]
          end
        end => [total, items]
        Page.new(items, current_page, total, count)
      end

      def zset_page(conn, key, first, last, reverse)
        total, members = conn.multi do |tx|
          tx.call("ZCARD", key)
          tx.call("ZRANGE", key, first, last, *("REV" if reverse), "WITHSCORES")
        end
        [total, members.map { |member, score| [member, Float(score)] }]
      end

      def list_page(conn, key, first, last, reverse)
        range = reverse ? [-last - 1, -first - 1] : [first, last]
        total, members = conn.multi do |tx|
          tx.call("LLEN", key)
          tx.call("LRANGE", key, *range)
        end
        members = members.reverse if reverse
        [total, members.each_with_index.map { |member, i| [member, first + i] }]
      end

      def page_items(items, current_page, count)
        first = (current_page - 1) * count
        Page.new(items[first, count] || [], current_page, items.size, count)
      end
    end
  end
end
