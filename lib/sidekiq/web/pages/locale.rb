# frozen_string_literal: true

require "uri"

module Sidekiq
  class Web
    module Pages
      # `POST /change_locale`: the footer's language picker. Keeps the choice in the session
      # (Locales.pick reads it before Accept-Language) and goes back to the page it came from.
      module Locale
        # Helpers for the language switch.
        module Helpers
          # Where to go after switching: the Referer's path and query when it is a page of this
          # UI on this host (never another site: no open redirect), else the dashboard.
          def locale_return_path
            referer = URI.parse(env["HTTP_REFERER"].to_s)
            return root_path unless same_ui?(referer)

            referer.query ? "#{referer.path}?#{referer.query}" : referer.path
          rescue URI::InvalidURIError
            root_path
          end

          private

          def same_ui?(uri)
            return false unless uri.is_a?(URI::HTTP) && uri.host == request.host && uri.port == request.port

            path = uri.path.to_s
            path == env["SCRIPT_NAME"].to_s || path.start_with?(root_path)
          end
        end

        def self.registered(app)
          app.helpers(Helpers)

          app.post("/change_locale") do
            wanted = params["locale"].to_s
            session["locale"] = wanted if session && available_locales.include?(wanted)
            redirect(locale_return_path)
          end
        end
      end
    end
  end
end
