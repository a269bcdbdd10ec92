# frozen_string_literal: true

module Ferrokiq
  # glibc gives threads that allocate at the same time arenas of their own (up to eight per
  # core), and memory freed in one arena is not reused by the others: a server whose worker
  # threads allocate in turn ends a busy drain holding memory no job uses. Two arenas keep RSS at
  # Sidekiq's level. They once cost a fifth of the bare drain's rate in contention, when the
  # native library's threads freed memory in glibc too; it allocates with mimalloc now, and the
  # cost is gone (docs/performance.md, §8).
  # Only the `sidekiq` command does this; an app's own MALLOC_ARENA_MAX wins, and an embedded
  # server leaves the host's allocator alone.
  module MallocArenas
    COUNT = 2

    # Whether the limit was set.
    def self.limit!(env = ENV)
      return false if env.key?("MALLOC_ARENA_MAX")

      Native.limit_malloc_arenas(COUNT)
    end
  end
end
