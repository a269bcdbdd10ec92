# frozen_string_literal: true

require "singleton"
require "ferrokiq/periodic/store"

# sidekiq-scheduler's Ruby API, built into Ferrokiq: apps keep their initializer
# (`Sidekiq.schedule = YAML.load_file(...)`, `SidekiqScheduler::Scheduler.instance.reload_schedule!`)
# after deleting the gem. The schedule lives in Redis and the Rust scheduler pushes its ticks
# (docs/design.md, "Periodic jobs"); no thread runs in Ruby.
module SidekiqScheduler
  # Extends Sidekiq: `Sidekiq.schedule=`, `get_schedule`, `set_schedule`, `remove_schedule`.
  module Schedule
    # Publishes the whole schedule (see Ferrokiq::Periodic::Store for why an older one is kept
    # out) and remembers it for `reload_schedule!`.
    def schedule=(schedule)
      @schedule = Ferrokiq::Periodic::Store.prepared(schedule)
      Ferrokiq::Periodic::Store.publish(@schedule)
    end

    def schedule
      @schedule || get_schedule
    end

    def reload_schedule!
      Ferrokiq::Periodic::Store.publish(@schedule) if @schedule
    end
    alias schedule! reload_schedule!

    def get_schedule(name = nil)
      Ferrokiq::Periodic::Store.get(name)
    end

    def set_schedule(name, config)
      Ferrokiq::Periodic::Store.set(name, config)
    end

    def remove_schedule(name)
      Ferrokiq::Periodic::Store.remove(name)
    end
  end

  # The plugin's scheduler object. Switches that tuned rufus threads or polling are accepted
  # and have nothing to tune here: ticks come from the Rust scheduler of whichever process holds
  # the scheduler lease.
  class Scheduler
    include Singleton

    attr_accessor :enabled, :dynamic, :dynamic_every, :listened_queues_only, :rufus_scheduler_options

    def initialize
      @enabled = true
      @dynamic = false
    end

    class << self
      # The plugin forwards class-level calls to the instance (`Sidekiq::Scheduler.reload_schedule!`).
      def method_missing(name, ...)
        instance.respond_to?(name) ? instance.public_send(name, ...) : super
      end

      def respond_to_missing?(name, include_private = false)
        instance.respond_to?(name, include_private) || super
      end
    end

    def reload_schedule!
      Sidekiq.reload_schedule!
    end
    alias load_schedule! reload_schedule!

    # Publishes an empty schedule: every entry goes.
    def clear_schedule!
      Ferrokiq::Periodic::Store.publish({})
    end

    def job_enabled?(name)
      Ferrokiq::Periodic::Store.enabled?(name)
    end

    def toggle_job_enabled(name)
      Ferrokiq::Periodic::Store.set_enabled(name, !job_enabled?(name))
    end

    # Pushes an entry's job once now, outside its schedule (the plugin's "Enqueue now"), through
    # Sidekiq::Client. +config+ is the entry as `get_schedule` returns it.
    def enqueue_job(config, time = Time.now)
      entry = Ferrokiq::Periodic::Entry.stringify(config)
      Sidekiq::Client.push(Ferrokiq::Periodic::Entry.job(entry["class"], entry, time))
    end

    def toggle_all_jobs(enabled)
      Sidekiq.get_schedule.each_key { |name| Ferrokiq::Periodic::Store.set_enabled(name, enabled) }
    end
  end

  # Only the prefix setting is kept: Ferrokiq writes the plugin's unprefixed keys.
  module RedisManager
    class << self
      attr_accessor :key_prefix
    end
  end
end

# `Sidekiq::Scheduler` is the plugin's alias of its scheduler, and `Sidekiq.schedule=` etc. come
# from extending Sidekiq, as the plugin does.
module Sidekiq
  Scheduler = SidekiqScheduler::Scheduler unless const_defined?(:Scheduler, false)
  extend SidekiqScheduler::Schedule
end
