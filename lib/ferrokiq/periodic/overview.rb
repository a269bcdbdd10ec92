# frozen_string_literal: true

require "time"
require "ferrokiq/periodic/store"
require "sidekiq/cron/namespace"

module Ferrokiq
  module Periodic
    # What the Web UI's "Recurring jobs" page shows of each `schedules` entry, whichever API
    # wrote it (sidekiq-scheduler's, or sidekiq-cron's `cron_job:<namespace>:<name>` entries),
    # read in two round trips; and its two actions, a push now and the enabled switch, written
    # where the server's scheduler reads them (docs/design.md, §5.1).
    module Overview
      # One entry. +rule+ is [key, value] of the rule that drives it (cron, every, at, in or
      # interval, the first present, as the scheduler takes it); +next_run+ (set by
      # #add_next_runs) is nil when disabled or when no tick is left; +problem+ is why the
      # scheduler cannot read the rule, if so; +stored+ and +since+ are the entry's JSON and the
      # time the server counts it from; +runs+ the ticks pushed so far of an entry with rufus'
      # `times`.
      Row = Struct.new(:name, :rule, :klass, :queue, :args, :description, :enabled, :last_run, :next_run,
                       :problem, :cron_name, :cron_namespace, :stored, :since, :runs, keyword_init: true) do
        # The name people know the job by: a sidekiq-cron job's own name, else the entry's.
        def label
          cron_name || name
        end

        # A sidekiq-cron job's namespace when it is not the default one (the page shows it then).
        def other_namespace
          cron_namespace if cron_namespace && cron_namespace != Sidekiq::Cron::Namespace.default
        end
      end

      module_function

      # Every entry, sorted by name, without its next run.
      def rows
        entries, states, last_times, since, runs, cron_enqueued = read_all
        entries.sort.map do |name, json|
          entry = parse(json)
          cron_namespace, cron_name = Sidekiq::Cron::Namespace.split_entry(name)
          Row.new(name:, rule: rule_of(entry), klass: entry["class"] || name, queue: entry["queue"] || "default",
                  args: Entry.wrap_args(entry["args"]), description: entry["description"].to_s,
                  enabled: enabled_state(states[name], entry), last_run: latest(last_times[name], cron_enqueued[name]),
                  cron_name:, cron_namespace:, stored: json, since: since[name], runs: runs[name].to_i)
        end
      end

      # Sets the next run of each enabled row: the next tick as the server computes it (Rust,
      # core/src/periodic/rule.rs), about 20 µs for a cron, so only for the rows shown. An entry
      # the server has not registered yet counts from now, as it will; one that pushed its
      # `times` ticks has none left.
      def add_next_runs(rows, now = Time.now)
        rows.each do |row|
          next unless row.enabled && !times_reached?(row)

          tick = Ferrokiq::Native.periodic_next(row.name, row.stored, (row.since || now).to_f, now.to_f)
          row.next_run = tick && Time.at(tick)
        rescue ArgumentError => e
          row.problem = e.message
        end
      end

      # Pushes the entry's job once now, through Sidekiq::Client (its middleware included).
      # Returns the jid, or nil when there is no such entry.
      def enqueue_now(name, now = Time.now)
        if (cron = cron_job(name))
          return cron.enque!(now)
        end

        entry = Store.get(name)
        entry && SidekiqScheduler::Scheduler.instance.enqueue_job(entry.merge("class" => entry["class"] || name), now)
      end

      # Writes the enabled state the scheduler honours over the entry's own `enabled`. A
      # sidekiq-cron job also keeps its `status` field in step, as sidekiq-cron's UI does.
      # Returns false when there is no such entry.
      def set_enabled(name, enabled)
        if (cron = cron_job(name))
          return enabled ? cron.enable! : cron.disable!
        end
        return false unless Store.get(name)

        Store.set_enabled(name, enabled)
        true
      end

      # Whether an `every`/`interval` entry with rufus' `times` option pushed them all.
      def times_reached?(row)
        key, = row.rule
        options = %w[every interval].include?(key) && Array(parse(row.stored)[key])[1]
        times = options.is_a?(Hash) && options["times"]
        times.is_a?(Integer) && row.runs >= times
      end

      # The entry name a sidekiq-cron job (named +cron_name+, in +namespace+) is stored under.
      def cron_entry(cron_name, namespace = nil)
        Sidekiq::Cron::Job.key_for(cron_name, namespace)
      end

      def cron_job(name)
        namespace, short = Sidekiq::Cron::Namespace.split_entry(name)
        short && Sidekiq::Cron::Job.find(short, namespace)
      end

      def read_all
        replies = Sidekiq.redis do |conn|
          conn.pipelined do |pipe|
            [Store::SCHEDULES, Store::STATES, Store::LAST_TIMES, Store::SINCE, Store::RUNS].each do |key|
              pipe.call("HGETALL", key)
            end
          end
        end
        [*replies, cron_enqueue_times(replies.first.keys)]
      end

      # entry name => the last "Enqueue now" sidekiq-cron recorded for the job (a sidekiq-cron
      # job's entry is named after its hash, in whichever namespace).
      def cron_enqueue_times(names)
        keys = names.select { |name| Sidekiq::Cron::Namespace.split_entry(name) }
        return {} if keys.empty?

        times = Sidekiq.redis do |conn|
          conn.pipelined { |pipe| keys.each { |key| pipe.call("HGET", key, "last_enqueue_time") } }
        end
        keys.zip(times).to_h
      end

      def parse(json)
        entry = Sidekiq.load_json(json)
        entry.is_a?(Hash) ? entry : {}
      rescue JSON::ParserError
        {}
      end

      def enabled_state(state, entry)
        toggled = state && parse(state)["enabled"]
        return toggled if [true, false].include?(toggled)

        ![false, "false"].include?(entry["enabled"])
      end

      def rule_of(entry)
        key = Entry::RULE_KEYS.find { |name| Entry.present?(entry[name]) }
        key && [key, entry[key].is_a?(String) ? entry[key] : Sidekiq.dump_json(entry[key])]
      end

      # The later of the scheduler's last push and sidekiq-cron's last "Enqueue now".
      def latest(*stamps)
        stamps.filter_map { |stamp| parse_time(stamp) }.max
      end

      def parse_time(stamp)
        Time.parse(stamp) if stamp.is_a?(String) && !stamp.empty?
      rescue ArgumentError
        nil
      end
    end
  end
end
