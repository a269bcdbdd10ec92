# frozen_string_literal: true

require "sidekiq"
require "sidekiq/api"

module Sidekiq
  # `sidekiqmon [section]`: the cluster's state from the Data API, for a terminal.
  class Monitor
    # Prints one section (all, version, overview, processes, queues) to +out+.
    class Status
      VALID_SECTIONS = %w[all version overview processes queues].freeze
      # Columns of the queues table: header, alignment.
      QUEUE_COLUMNS = { name: :ljust, size: :rjust, latency: :rjust }.freeze
      GAP = 2

      def initialize(out = $stdout)
        @out = out
      end

      def display(section = nil)
        section ||= "all"
        unless VALID_SECTIONS.include?(section)
          @out.puts "Unknown section '#{section}'. Sections: #{VALID_SECTIONS.join(", ")}"
          return
        end
        public_send(section)
      end

      def all
        %i[version overview processes queues].each_with_index do |section, index|
          @out.puts if index.positive?
          public_send(section)
        end
      end

      def version
        @out.puts "Sidekiq #{Sidekiq::VERSION} (Ferrokiq #{Ferrokiq::VERSION})"
        @out.puts Time.now.utc
      end

      def overview
        @out.puts "---- Overview ----"
        { "Processed" => stats.processed, "Failed" => stats.failed, "Busy" => stats.workers_size,
          "Enqueued" => stats.enqueued, "Retries" => stats.retry_size, "Scheduled" => stats.scheduled_size,
          "Dead" => stats.dead_size }.each { |label, value| @out.puts "#{label.rjust(11)}: #{delimit(value)}" }
      end

      def processes
        @out.puts "---- Processes (#{process_list.size}) ----"
        process_list.each_with_index do |process, index|
          @out.puts if index.positive?
          describe_process(process)
        end
      end

      def queues
        rows = Sidekiq::Queue.all.map do |queue|
          { name: queue.name, size: queue.size.to_s, latency: format("%.2f", queue.latency) }
        end
        @out.puts "---- Queues (#{rows.size}) ----"
        header = QUEUE_COLUMNS.keys.to_h { |column| [column, column.to_s.upcase] }
        widths = QUEUE_COLUMNS.keys.to_h { |column| [column, [header, *rows].map { |row| row[column].size }.max + GAP] }
        [header, *rows].each { |row| @out.puts(table_line(row, widths)) }
      end

      private

      def table_line(row, widths)
        QUEUE_COLUMNS.map { |column, align| row[column].public_send(align, widths[column]) }.join
      end

      def describe_process(process)
        @out.puts [process.identity, tags(process)].compact.join(" ")
        started = Time.at(process["started_at"].to_f)
        @out.puts "  Started: #{started} (#{ago(started)})"
        @out.puts "  Threads: #{process["concurrency"]} (#{process["busy"]} busy)"
        @out.puts "   Queues: #{queue_list(process)}"
        @out.puts "  Version: #{process.version || "unknown"}" unless process.version == Sidekiq::VERSION
      end

      # Weighted queues as "name: weight", in name order; Sidekiq 6 processes list names only.
      def queue_list(process)
        weights = process.weights
        names = if weights.is_a?(Array)
                  weights.flat_map(&:to_a).sort_by(&:first).map { |name, weight| weighted(name, weight) }
                else
                  Array(process.queues).sort
                end
        names.empty? ? "none" : names.join(", ")
      end

      def weighted(name, weight)
        weight.to_i.positive? ? "#{name}: #{weight}" : name
      end

      def tags(process)
        tags = [process.tag, *process.labels, ("quiet" if process.stopping?)].compact.reject(&:empty?)
        tags.map { |tag| "[#{tag}]" }.join(" ") unless tags.empty?
      end

      def ago(time)
        seconds = (Time.now - time).floor
        return "just now" if seconds < 60
        return "#{seconds / 60} min ago" if seconds < 3600

        "#{seconds / 3600} h ago"
      end

      def delimit(number)
        number.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
      end

      def process_list
        @process_list ||= Sidekiq::ProcessSet.new.to_a
      end

      def stats
        @stats ||= Sidekiq::Stats.new
      end
    end
  end
end
