# frozen_string_literal: true

require "ferrokiq/errors"

module Ferrokiq
  # The sidekiq gem itself is active in a process that uses Ferrokiq.
  class SidekiqGemConflict < Error; end

  # Ferrokiq is `require "sidekiq"`: a process must not also load the sidekiq gem. A plugin that
  # depends on `sidekiq` makes Bundler add it beside Ferrokiq (Debian's 6.4.1, for one), and two
  # libraries would then answer to `Sidekiq` at once. So both entry points (lib/ferrokiq.rb and
  # lib/sidekiq.rb) refuse to load while the sidekiq gem is active, and name the gems that
  # pulled it in. Ferrokiq's stand-in gem (sidekiq-stand-in/, a `sidekiq` with no code of its
  # own that depends on ferrokiq) satisfies such plugins instead.
  module SidekiqGemCheck
    STAND_IN_KEY = "ferrokiq_stand_in"
    STAND_IN_GEMSPEC = File.expand_path("../../sidekiq-stand-in", __dir__)

    module_function

    def verify!
      spec = Gem.loaded_specs["sidekiq"]
      return unless spec && spec.metadata[STAND_IN_KEY] != "true"

      raise SidekiqGemConflict, message(spec)
    end

    def message(spec)
      "Ferrokiq replaces the sidekiq gem, but sidekiq #{spec.version} is active in this process too " \
        "(#{why_active(spec)}); two Sidekiqs cannot share one process. Remove the plugin if Ferrokiq " \
        "has it built in (see \"Migrating from Sidekiq\" in Ferrokiq's README); otherwise point " \
        "Bundler's `sidekiq` at Ferrokiq's stand-in gem: " \
        "gem \"sidekiq\", path: \"#{STAND_IN_GEMSPEC}\""
    end

    # The gems that depend on sidekiq, or the Gemfile itself when none does.
    def why_active(spec)
      dependents = Gem.loaded_specs.values.select do |other|
        other.runtime_dependencies.any? { |dependency| dependency.name == spec.name }
      end
      return "listed in the Gemfile itself, or activated with `gem \"sidekiq\"`" if dependents.empty?

      "required by #{dependents.map { |other| "#{other.name} #{other.version}" }.sort.join(", ")}"
    end
  end
end

Ferrokiq::SidekiqGemCheck.verify!
