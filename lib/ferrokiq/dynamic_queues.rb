# frozen_string_literal: true

module Ferrokiq
  # sidekiq-limit_fetch's `:dynamic:` (docs/design.md, §23): `true`, or `{exclude: [names]}`, in
  # sidekiq.yml or config[:dynamic]. The engine then works every queue in Redis that no capsule
  # is configured with, after the default capsule's own queues, except the excluded ones.
  module DynamicQueues
    # The queues to leave out, for the engine: nil when the option is off.
    def self.exclusions(config)
      setting = config[:dynamic]
      case setting
      when nil, false then nil
      when true then []
      when Hash then Array(setting[:exclude] || setting["exclude"]).map(&:to_s)
      else raise ArgumentError, "dynamic: #{setting.inspect} is not a valid value (true, or {exclude: [queues]})"
      end
    end
  end
end
