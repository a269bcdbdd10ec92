# frozen_string_literal: true

module Sidekiq
  module Job
    module Iterable
      # Walks an ActiveRecord::Relation in primary-key order with Rails' batching methods,
      # starting at the cursor's primary key (inclusive). Active Record is the app's: nothing
      # here loads it.
      class ActiveRecordEnumerator
        DEFAULT_BATCH_SIZE = 1000

        def initialize(relation, cursor: nil, **options)
          @relation = relation
          @cursor = cursor
          @options = options
        end

        def records
          Enumerator.new(-> { @relation.count }) do |yielder|
            @relation.find_each(**@options, start: @cursor) { |record| yielder.yield(record, record.id) }
          end
        end

        def batches
          Enumerator.new(-> { batch_count }) do |yielder|
            @relation.find_in_batches(**@options, start: @cursor) { |batch| yielder.yield(batch, batch.first.id) }
          end
        end

        def relations
          options = @options.dup
          batch_size = options.delete(:batch_size)
          options[:of] ||= batch_size if batch_size
          Enumerator.new(-> { batch_count }) do |yielder|
            @relation.in_batches(**options, start: @cursor) { |batch| yielder.yield(batch, first_key(batch)) }
          end
        end

        private

        # The key a batch relation starts at, in the direction the batches go.
        def first_key(batch)
          key = @relation.primary_key
          @options[:order] == :desc ? batch.maximum(key) : batch.minimum(key)
        end

        def batch_count
          size = @options[:batch_size] || @options[:of] || DEFAULT_BATCH_SIZE
          (@relation.count + size - 1) / size
        end
      end
    end
  end
end
