# frozen_string_literal: true

# SQLite for a database that several threads write at once: `bin/sidekiq` runs five jobs at a
# time (config/sidekiq.yml), each on its own connection (database.yml's pool is at least that).
# Rails 6.1 with sqlite3 1.4 cannot do this out of the box: `timeout:` becomes SQLite's
# busy_timeout, which sleeps while holding Ruby's global lock, so the thread that holds the
# database's write lock cannot run to its COMMIT; the waiting job stalls for `timeout` ms and then
# fails with SQLite3::BusyException. Rails 7.1 and 7.2 made these the defaults:
#
# - a busy handler that waits in Ruby (`sleep` lets the other threads run), up to `timeout` ms;
# - BEGIN IMMEDIATE transactions: a transaction takes the write lock when it starts, so two
#   transactions never deadlock upgrading their read locks (SQLite fails one at once, unwaited);
# - the WAL journal: readers (the web page) and the writer do not block each other.
ActiveSupport.on_load(:active_record_sqlite3adapter) do
  prepend(Module.new do
    def begin_db_transaction
      log("begin immediate transaction", "TRANSACTION") { @connection.transaction(:immediate) }
    end

    private

    def configure_connection
      super
      timeout = self.class.type_cast_config_to_integer(@config[:timeout] || 5000) / 1000.0
      started = nil
      @connection.busy_handler do |count|
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        started = now if count.zero?
        next false if now - started >= timeout

        sleep([count + 1, 10].min / 1000.0)
        true
      end
      execute("PRAGMA journal_mode = WAL", "SCHEMA")
      execute("PRAGMA synchronous = NORMAL", "SCHEMA")
    end
  end)
end
