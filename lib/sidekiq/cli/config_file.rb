# frozen_string_literal: true

require "erb"
require "yaml"

module Sidekiq
  class CLI
    # A bad flag, file or value: shown as a message, exit status 1.
    class UsageError < StandardError; end

    # config/sidekiq.yml (or the file -C names): ERB first, so it can read ENV, then YAML with
    # symbol or string keys. The section named after the environment overrides the top level.
    class ConfigFile
      # Keys Sidekiq 7 accepts but has no use for: strict queue order follows from the weights
      # (all zero means strict).
      IGNORED_KEYS = %i[strict].freeze

      def initialize(path, environment)
        @path = path
        @environment = environment
      end

      # The options as symbol-keyed Hash; raises UsageError for a missing or malformed file.
      def options
        raise UsageError, "No such file #{@path}" unless File.exist?(@path)

        top = deep_symbolize(read_yaml_hash)
        section = top.delete(@environment.to_sym) || {}
        raise UsageError, "#{@path}: the #{@environment} section must be a Hash of options" unless section.is_a?(Hash)

        top.merge(section).except(*IGNORED_KEYS)
      end

      private

      def read_yaml_hash
        template = ERB.new(File.read(@path), trim_mode: "-")
        template.location = [File.expand_path(@path), 0] # ERB errors name the file and its line
        parsed = YAML.safe_load(template.result, permitted_classes: [Symbol], aliases: true, filename: @path) || {}
        return parsed if parsed.is_a?(Hash)

        raise UsageError, "#{@path}: expected a Hash of options, got #{parsed.class}"
      end

      def deep_symbolize(value)
        case value
        when Hash then value.to_h { |key, item| [key.respond_to?(:to_sym) ? key.to_sym : key, deep_symbolize(item)] }
        when Array then value.map { |item| deep_symbolize(item) }
        else value
        end
      end
    end
  end
end
