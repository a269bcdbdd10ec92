# frozen_string_literal: true

module Ferrokiq
  # Reads a Redis list or sorted set one window of indices at a time, for `Queue#each` and
  # `JobSet#each`, while the caller's block (or anyone else) may remove what it has been shown.
  #
  # Each removal on the walked side shifts every later entry one index closer to the end the
  # walk started from, so the next window starts at "entries passed minus entries removed" from
  # that end. The removal count may overestimate (then some entries are yielded twice), but if
  # it underestimated, entries would be skipped: callers count every removal they know of.
  module Paging
    module_function

    # Yields each element, starting from +from+: :head walks indices 0, 1, 2 ... and yields in
    # stored order; :tail walks -1, -2, -3 ... and yields the last element first.
    #
    # +read+ is called with a window's first and last index and returns its elements;
    # +removed+ answers how many entries have left the collection since the walk began.
    def each(from:, page_size:, read:, removed:, &block)
      passed = 0
      loop do
        # Others' removals can outnumber the entries passed: then start again from the end.
        offset = passed.zero? ? 0 : [passed - removed.call, 0].max
        page = read.call(*window(from, offset, page_size))
        (from == :tail ? page.reverse_each : page.each).each(&block)
        # A short window reached the far end of what the collection held when it was read.
        break if page.size < page_size

        passed += page.size
      end
    end

    # The first and last index of the window that skips +offset+ entries from +from+.
    def window(from, offset, page_size)
      case from
      when :head then [offset, offset + page_size - 1]
      when :tail then [-(offset + page_size), -(offset + 1)]
      else raise ArgumentError, "from: must be :head or :tail, got #{from.inspect}"
      end
    end
  end
end
