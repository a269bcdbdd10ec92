# frozen_string_literal: true

require "yaml"

module Sidekiq
  class Web
    # The texts: every `<lang>.yml` in Sidekiq::Web.locales (the UI's and extensions'), merged
    # per language, later directories adding to and overriding earlier ones.
    module Locales
      RTL = %w[ar fa he ur].freeze
      DEFAULT = "en"

      @cache = {}
      @lock = Mutex.new

      class << self
        # lang => { key => text } for the given directories.
        def strings(dirs)
          @lock.synchronize { @cache[dirs.dup] ||= load(dirs) }
        end

        def available(dirs)
          strings(dirs).keys
        end

        # The best language for the request: the session's choice, else Accept-Language's, else
        # English.
        def pick(dirs, session_locale, accept_language)
          langs = available(dirs)
          return session_locale if session_locale && langs.include?(session_locale)

          accepted(accept_language).each do |wanted|
            return wanted if langs.include?(wanted)

            prefix = wanted.split("-").first
            return prefix if langs.include?(prefix)
          end
          DEFAULT
        end

        private

        def accepted(header)
          langs = header.to_s.split(",").filter_map do |part|
            lang, *options = part.strip.split(";")
            next if lang.nil? || lang.empty? || lang == "*"

            quality = options.find { |opt| opt.strip.start_with?("q=") }
            [lang.downcase, quality ? quality.strip[2..].to_f : 1.0]
          end
          langs.sort_by { |_, quality| -quality }.map(&:first)
        end

        def load(dirs)
          merged = Hash.new { |hash, lang| hash[lang] = {} }
          dirs.each do |dir|
            Dir.glob(File.join(dir, "*.yml")).each do |file|
              YAML.safe_load_file(file).each do |lang, texts|
                merged[lang.to_s.downcase].merge!(texts.to_h.transform_keys(&:to_s)) if texts.is_a?(Hash)
              end
            end
          end
          merged.default_proc = nil
          merged
        end
      end
    end
  end
end
