# frozen_string_literal: true

require "sidekiq/client"

# Transactional pushes: Sidekiq.transactional_push! and the client it installs.
module Sidekiq
  # A client whose pushes made inside an Active Record transaction wait for its commit, and
  # are dropped when it rolls back, so a job never runs before (or without) the rows it reads.
  # Installed for every job class by `Sidekiq.transactional_push!`. `push_bulk` is not deferred,
  # as in Sidekiq: holding a bulk push's jobs in memory until commit is the caller's choice.
  class TransactionAwareClient
    def initialize(pool: nil, config: nil)
      @client = Client.new(pool:, config:)
    end

    # Sidekiq Pro's batches cannot wait for a transaction; their pushes go out at once.
    def batching?
      Thread.current[:sidekiq_batch]
    end

    # The jid at once (chosen now, so the caller can store it in the same transaction); the job
    # reaches Redis when the transaction commits, or right away outside one.
    def push(item)
      connection = open_transaction_connection
      return @client.push(item) if connection.nil? || batching?

      item["jid"] ||= Ferrokiq::Native.jid
      client = @client
      connection.add_transaction_record(PushOnCommit.new { client.push(item) })
      item["jid"]
    end

    def push_bulk(items)
      @client.push_bulk(items)
    end

    private

    # The current thread's Active Record connection when it is inside a transaction. A thread
    # holding no connection is in no transaction: none is checked out just to ask.
    def open_transaction_connection
      return unless defined?(::ActiveRecord::Base)

      connection = ::ActiveRecord::Base.connection_pool.active_connection?
      connection if connection.respond_to?(:transaction_open?) && connection.transaction_open?
    rescue ::ActiveRecord::ConnectionNotEstablished
      nil
    end

    # What Active Record's transaction calls back at commit and rollback, in the shape it calls
    # records in: the push runs at the outermost commit (a savepoint's commit hands it to the
    # enclosing transaction); a rollback, of the savepoint or of the whole, drops it.
    class PushOnCommit
      def initialize(&push)
        @push = push
      end

      def trigger_transactional_callbacks?
        true
      end

      def has_transactional_callbacks? # rubocop:disable Naming/PredicateName -- Active Record's name
        true
      end

      def before_committed!; end

      # The rows are committed whatever other records' callbacks did, so the job goes out even
      # when Active Record asks not to run callbacks (another record's callback raised).
      def committed!(*, **)
        @push.call
      end

      def rolledback!(*, **); end

      def add_to_transaction(*); end
    end
  end

  # `Sidekiq.transactional_push!` in an initializer: every job class pushes through
  # TransactionAwareClient. Active Record's own transaction records carry the deferral, so no
  # extra gem is needed (Sidekiq uses after_commit_everywhere).
  def self.transactional_push!
    Sidekiq.default_job_options = { "client_class" => Sidekiq::TransactionAwareClient }
    JobUtil::TRANSIENT_ATTRIBUTES << "client_class" unless JobUtil::TRANSIENT_ATTRIBUTES.include?("client_class")
    true
  end
end
