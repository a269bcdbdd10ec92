# frozen_string_literal: true

module Sidekiq
  module Cron
    class Job
      # sidekiq-cron's bulk loaders (`load_from_hash`, `load_from_array` and their `!` forms),
      # extended into Job. +options+ (`source:`, `namespace:`, ...) apply to every job listed, as
      # in sidekiq-cron.
      module Loading
        # Saves each job (name => attributes); returns the errors of the invalid ones.
        def load_from_hash(hash, options = {})
          load_from_array(named(hash), options)
        end

        def load_from_array(array, options = {})
          fields = stringified(options)
          array.flat_map do |attributes|
            job = new(stringified(attributes).merge(fields))
            job.save ? [] : job.errors
          end
        end

        # As the plain forms, and deletes the jobs of the same source that the list no longer
        # holds, in every namespace: a job is listed when both its name and its namespace are,
        # so one moved to another namespace stops ticking in the old one (sidekiq-cron compares
        # names only and would keep both).
        def load_from_hash!(hash, options = {})
          load_from_array!(named(hash), options)
        end

        def load_from_array!(array, options = {})
          fields = stringified(options)
          source = (fields["source"] || "dynamic").to_s
          listed = array.map { |attributes| new(stringified(attributes).merge(fields)).key }
          all("*").each { |job| job.destroy if job.source == source && !listed.include?(job.key) }
          load_from_array(array, options)
        end

        private

        def named(hash)
          hash.map { |name, attributes| stringified(attributes).merge("name" => name.to_s) }
        end

        def stringified(hash)
          hash.to_h.transform_keys(&:to_s)
        end
      end
    end
  end
end
