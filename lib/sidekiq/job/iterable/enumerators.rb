# frozen_string_literal: true

require "sidekiq/job/iterable/active_record_enumerator"
require "sidekiq/job/iterable/csv_enumerator"

module Sidekiq
  module Job
    module Iterable
      # The loop behind array_enumerator. An Enumerator over a plain method that yields runs
      # without a Fiber or a Yielder, and this one measures faster per item than
      # `each.with_index` or `each_with_index` as Enumerators (bench/iteration.rb).
      module ArrayWalk
        module_function

        def each_from(array, start)
          index = start
          while index < array.size
            yield array[index], index
            index += 1
          end
        end
      end

      # Enumerators for #build_enumerator. Each yields [item, cursor], the cursor being what
      # the job needs to start again at that item: an index, a primary key, a batch number.
      # A resumed run is built with the saved cursor, so the item the run stopped on comes first.
      module Enumerators
        # The elements of +array+ from index +cursor+ on; the cursor is the index.
        def array_enumerator(array, cursor:)
          raise ArgumentError, "array must be an Array" unless array.is_a?(Array)
          unless cursor.nil? || cursor.is_a?(Integer)
            raise ArgumentError, "cursor must be an Integer index, got #{cursor.inspect}"
          end

          start = cursor || 0
          ArrayWalk.to_enum(:each_from, array, start) { [array.size - start, 0].max }
        end

        # One record at a time (find_each), the cursor being its primary key. +options+ go to
        # find_each: batch_size:, finish:, order:.
        def active_record_records_enumerator(relation, cursor:, **options)
          ActiveRecordEnumerator.new(relation, cursor:, **options).records
        end

        # Arrays of records (find_in_batches), the cursor being the first one's primary key.
        def active_record_batches_enumerator(relation, cursor:, **options)
          ActiveRecordEnumerator.new(relation, cursor:, **options).batches
        end

        # Relations of one batch each (in_batches, `batch_size:` taken for `of:`), the cursor
        # being the batch's first primary key.
        def active_record_relations_enumerator(relation, cursor:, **options)
          ActiveRecordEnumerator.new(relation, cursor:, **options).relations
        end

        # The rows of a CSV object, the cursor being the row's index.
        def csv_enumerator(csv, cursor:)
          CsvEnumerator.new(csv).rows(cursor:)
        end

        # Arrays of up to +batch_size+ rows (100 by default), the cursor being the batch's index.
        def csv_batches_enumerator(csv, cursor:, **options)
          CsvEnumerator.new(csv).batches(cursor:, **options)
        end
      end
    end
  end
end
