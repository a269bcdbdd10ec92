# frozen_string_literal: true

module Sidekiq
  module Job
    module Iterable
      # Walks a CSV object row by row or in batches of rows. Rows before the cursor are read
      # and skipped (a CSV stream has no random access). The app requires "csv".
      class CsvEnumerator
        DEFAULT_BATCH_SIZE = 100

        def initialize(csv)
          raise ArgumentError, "CsvEnumerator.new takes CSV object" unless defined?(::CSV) && csv.instance_of?(::CSV)

          @csv = csv
        end

        def rows(cursor:)
          start = cursor || 0
          Enumerator.new(-> { rows_in_file }) do |yielder|
            @csv.each_with_index { |row, index| yielder.yield(row, index) if index >= start }
          end
        end

        def batches(cursor:, batch_size: DEFAULT_BATCH_SIZE)
          start = cursor || 0
          Enumerator.new(-> { rows_in_file&.then { |rows| (rows + batch_size - 1) / batch_size } }) do |yielder|
            @csv.each_slice(batch_size).with_index do |batch, index|
              yielder.yield(batch, index) if index >= start
            end
          end
        end

        private

        # Data rows in the CSV's file (lines, less the header line), nil when it reads no file.
        def rows_in_file
          path = @csv.path
          return unless path

          lines = File.foreach(path).count
          @csv.headers ? lines - 1 : lines
        end
      end
    end
  end
end
