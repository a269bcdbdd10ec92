# frozen_string_literal: true

require "cgi"
require "time"

module Sidekiq
  class Web
    # Helpers for route blocks and templates (extensions' too). Everything that reaches HTML
    # from Redis goes through #h.
    module Helpers
      ARGS_SHOWN = 2000
      REDIS_INFO_KEYS = %w[redis_version uptime_in_days connected_clients used_memory_human
                           used_memory_peak_human].freeze
      CLIENT_TEXT_KEYS = %w[TimePast TimeFuture Seconds Minutes Hours Days Processed Failed LiveUpdated].freeze
      TIME_UNITS = [[60, "Seconds"], [3600, "Minutes"], [86_400, "Hours"], [Float::INFINITY, "Days"]].freeze
      UNIT_SECONDS = { "Seconds" => 1, "Minutes" => 60, "Hours" => 3600, "Days" => 86_400 }.freeze

      # HTML-escaped text (invalid UTF-8 replaced rather than raised on).
      def h(text)
        text = text.to_s
        text = text.scrub("\uFFFD") if text.encoding == Encoding::UTF_8 && !text.valid_encoding?
        CGI.escapeHTML(text)
      end

      # -- texts ------------------------------------------------------------------------------

      def strings
        Locales.strings(settings.locales)
      end

      def locale
        @locale ||= Locales.pick(settings.locales, session && session["locale"], env["HTTP_ACCEPT_LANGUAGE"])
      end

      def available_locales
        Locales.available(settings.locales)
      end

      # The text for +key+ in the request's language (else English, else the key itself), with
      # %{name} replaced from +vars+ (callers escape data they pass).
      def t(key, vars = {})
        key = key.to_s
        text = strings.dig(locale, key) || strings.dig(Locales::DEFAULT, key) || key
        vars.empty? ? text : text.gsub(/%\{(\w+)\}/) { vars.fetch(::Regexp.last_match(1).to_sym, "").to_s }
      end

      def rtl?
        Locales::RTL.include?(locale)
      end

      def text_direction
        rtl? ? "rtl" : "ltr"
      end

      # A language's own name for itself (its `LanguageName` text), for the language picker.
      def locale_name(lang)
        strings.dig(lang, "LanguageName") || lang
      end

      # Texts the browser scripts need (relative times, chart labels), keyed as in en.yml.
      def client_texts
        CLIENT_TEXT_KEYS.to_h { |key| [key, t(key)] }
      end

      # -- paths ------------------------------------------------------------------------------

      # The mount point, with a trailing slash: every link and asset starts here.
      def root_path
        "#{env["SCRIPT_NAME"]}/"
      end

      def current_path
        env["PATH_INFO"].to_s.delete_prefix("/")
      end

      # Query string keeping page/direction/count and the filter (overridden by +options+).
      def qparams(options = {})
        kept = params.slice("page", "direction", "count", "substr", "filter").merge(options.transform_keys(&:to_s))
        kept.reject { |_, value| value.nil? || value.to_s.empty? }.map { |k, v| "#{k}=#{CGI.escape(v.to_s)}" }.join("&")
      end

      # Redirects to +url+ with the query string of the page the request came from.
      def redirect_with_query(url)
        query = URI.parse(env["HTTP_REFERER"].to_s).query
        redirect(query ? "#{url}?#{query}" : url)
      rescue URI::InvalidURIError
        redirect(url)
      end

      # -- security ---------------------------------------------------------------------------

      def csp_nonce
        Headers.nonce(env)
      end

      def csrf_tag
        "<input type=\"hidden\" name=\"#{Csrf::TOKEN_FIELD}\" value=\"#{h(Csrf.token(env))}\">"
      end

      def read_only?
        Web.read_only?(env)
      end

      def script_tag(path)
        "<script src=\"#{h(root_path + path)}\" nonce=\"#{csp_nonce}\"></script>"
      end

      # +data+ as JSON that cannot end the <script type="application/json"> element holding it.
      def script_json(data)
        Sidekiq.dump_json(data).gsub("<", "\\u003c")
      end

      def style_tag(path)
        "<link rel=\"stylesheet\" href=\"#{h(root_path + path)}\" nonce=\"#{csp_nonce}\">"
      end

      # Markup for the layout's <head>, from a page's or an extension's view (Sidekiq 7.3's
      # helper): `<% add_to_head do %><%= style_tag("x/y.css") %><% end %>` or
      # `add_to_head { script_tag("x/y.js") }`. The layout is rendered after the page, so
      # everything added while rendering the page gets there.
      def add_to_head(&block)
        return unless block

        (@head_html ||= []) << capture_html(&block)
      end

      # Everything added with #add_to_head, in order (plugins prepend to this method).
      def display_custom_head
        @head_html&.join
      end

      # Whether the page offers live polling: every page but the dashboard (it has its own
      # realtime chart) and metrics, as in Sidekiq.
      def pollable?
        path = current_path
        !(path.empty? || path.start_with?("metrics"))
      end

      # -- formatting -------------------------------------------------------------------------

      def number_with_delimiter(number)
        integer, fraction = number.to_s.split(".")
        integer = integer.reverse.scan(/\d{1,3}-?/).join(",").reverse.sub("-,", "-")
        fraction ? "#{integer}.#{fraction}" : integer
      end

      # Kilobytes as a short size.
      def format_memory(kilobytes)
        kilobytes = kilobytes.to_i
        return "#{kilobytes} KB" if kilobytes < 1024
        return "#{(kilobytes / 1024.0).round} MB" if kilobytes < 1024 * 1024

        "#{(kilobytes / (1024.0 * 1024)).round(1)} GB"
      end

      def truncate(text, length = 100)
        text = text.to_s
        text.length > length ? "#{text[0, length - 1]}…" : text
      end

      # The job's arguments for display, escaped: each `inspect`ed, cut at +shown+ characters.
      def display_args(args, shown = ARGS_SHOWN)
        return h(t("InvalidPayload")) unless args.is_a?(Array)

        args.map { |arg| h(shown ? truncate(arg.inspect, shown) : arg.inspect) }.join(", ")
      end

      # A time as "… ago" / "in …", with the UTC time in its title.
      def relative_time(time)
        return "" unless time

        time = (time.is_a?(Numeric) ? Time.at(time) : time).getutc
        stamp = time.iso8601
        "<time datetime=\"#{stamp}\" title=\"#{h(time.strftime("%Y-%m-%d %H:%M:%S UTC"))}\">" \
          "#{h(time_distance(time))}</time>"
      end

      def time_distance(time)
        delta = Time.now.to_f - time.to_f
        seconds = delta.abs
        _, unit = TIME_UNITS.find { |limit, _| seconds < limit }
        amount = (seconds / UNIT_SECONDS.fetch(unit)).floor
        t(delta.negative? ? "TimeFuture" : "TimePast", amount: t(unit, count: amount))
      end

      # -- data -------------------------------------------------------------------------------

      def stats
        @stats ||= Sidekiq::Stats.new
      end

      # The Redis INFO fields the UI shows; a field a managed Redis hides is "".
      def redis_info
        @redis_info ||= begin
          info = Sidekiq.default_configuration.redis_info
          REDIS_INFO_KEYS.to_h { |key| [key, info[key].to_s] }
        rescue StandardError
          REDIS_INFO_KEYS.to_h { |key| [key, ""] }
        end
      end

      def product_version
        "Ferrokiq #{Ferrokiq::VERSION} (Sidekiq API #{Sidekiq::VERSION})"
      end

      def server_utc_time
        Time.now.utc.strftime("%H:%M:%S UTC")
      end

      # A sorted-set entry's key in URLs: "<score>-<jid>".
      def job_params(job, score)
        "#{score}-#{job["jid"]}"
      end

      # [score, jid] from a "<score>-<jid>" key, or nil.
      def parse_params(key)
        score, jid = key.to_s.split("-", 2)
        return unless jid && score.match?(/\A\d+(\.\d+)?(e[+-]?\d+)?\z/i)

        [Float(score), jid]
      end

      # The pager for +page+ (a Paging::Page), linking to +url+.
      def paging(page, url)
        erb(:_paging, locals: { page_info: page, url: })
      end

      private

      # What a block given to #add_to_head stands for: called from an ERB template, the markup it
      # wrote, taken back out of the page; called from Ruby, the String it returns.
      def capture_html(&block)
        scope = block.binding
        buffer = scope.local_variable_get(:_erbout) if scope.local_variable_defined?(:_erbout)
        return block.call.to_s unless buffer.is_a?(String)

        start = buffer.length
        result = block.call
        written = buffer.slice!(start..).to_s
        written.empty? ? result.to_s : written
      end
    end
  end

  WebHelpers = Web::Helpers
end
