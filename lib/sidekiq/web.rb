# frozen_string_literal: true

require "rack"
require "sidekiq"
require "sidekiq/api"
require "sidekiq/web/router"
require "sidekiq/web/csrf"
require "sidekiq/web/headers"
require "sidekiq/web/locales"
require "sidekiq/web/paging"
require "sidekiq/web/helpers"
require "sidekiq/web/action"
require "sidekiq/web/application"
require "sidekiq/web/extension"

module Sidekiq
  # Ferrokiq's Web UI, a Rack application: `run Sidekiq::Web` in a config.ru, or
  # `mount Sidekiq::Web => "/sidekiq"` in Rails routes. The class is its own settings object, as
  # Sidekiq 7's is: Sidekiq::Web.use, .tabs, .locales, .register ... configure every instance.
  class Web
    ROOT = File.expand_path("web", __dir__)
    VIEWS = File.join(ROOT, "views")
    LOCALES = File.join(ROOT, "locales")
    ASSETS = File.join(ROOT, "assets")
    # Label (a locale key) => path under the mount point, in nav order.
    DEFAULT_TABS = { "Dashboard" => "", "Busy" => "busy", "Queues" => "queues", "Retries" => "retries",
                     "Scheduled" => "scheduled", "Dead" => "morgue", "Metrics" => "metrics" }.freeze
    ASSET_MAX_AGE = 86_400
    # The Rack env key an application's authentication can set to make one request read-only.
    READ_ONLY_ENV = "sidekiq.web.read_only"

    class << self
      attr_accessor :app_url, :redis_pool
      attr_writer :views, :read_only

      def settings
        self
      end

      # Instances of the app share the class's settings.
      def configure
        yield self
      end

      def read_only
        @read_only ? true : false
      end

      def views
        @views ||= VIEWS
      end

      # Extension tabs, label => path (the built-in ones are #default_tabs).
      def tabs
        @tabs ||= {}
      end
      alias custom_tabs tabs

      def default_tabs
        DEFAULT_TABS
      end

      # Directories of <lang>.yml files; extensions append theirs.
      def locales
        @locales ||= [LOCALES]
      end

      # Objects with add_pair(job) { |name, html| } adding rows to a job's detail page.
      def custom_job_info_rows
        @custom_job_info_rows ||= []
      end

      def middlewares
        @middlewares ||= []
      end

      # Adds a Rack middleware in front of the UI's pages (authentication, sessions ...).
      def use(middleware, *args, &block)
        middlewares << [middleware, args, block]
        reset!
      end

      def enable(*names)
        names.each { |name| set(name, true) }
      end

      def disable(*names)
        names.each { |name| set(name, false) }
      end

      def set(name, value)
        public_send(:"#{name}=", value)
      end

      # Static asset directories served in front of everything: [url prefixes, root, max-age].
      def static_roots
        @static_roots ||= []
      end

      # Adds an extension: Sidekiq 7.3's keywords, or the older bare `register(Ext)` (then its
      # tabs come from `Sidekiq::Web.tabs[label] = path`). The guide's
      # `register(Sidekiq::WebAction.new(:get, path, rack_app))` registers a Sidekiq::Web::CallableRoute.
      # rubocop:disable Metrics/ParameterLists -- Sidekiq 7.3's signature
      def register(extension,
                   name: nil, tab: nil, index: nil, root_dir: nil, cache_for: ASSET_MAX_AGE,
                   asset_paths: nil)
        Array(tab).zip(Array(index)) { |label, path| tabs[label] = path.to_s } if tab
        if root_dir
          dir = File.join(root_dir, "locales")
          locales << dir if File.directory?(dir) && !locales.include?(dir)
          if name && asset_paths
            static_roots << [Array(asset_paths).map { |path| "/#{name}/#{path}" }, File.join(root_dir, "assets"),
                             cache_for]
          end
        end
        yield self if block_given?
        extension.registered(WebApplication)
        reset!
        extension
      end
      # rubocop:enable Metrics/ParameterLists

      def call(env)
        app.call(env)
      end

      # The assembled middleware stack (rebuilt after `use` or `register`).
      def app
        @app ||= build
      end

      def reset!
        @app = nil
      end

      private

      def build
        inner = WebApplication.new
        inner = Web::Csrf.new(inner)
        middlewares.reverse_each do |middleware, args, block|
          inner = middleware.new(inner, *args, &block)
        end
        inner = static(inner, %w[/stylesheets /javascripts /images], ASSETS, ASSET_MAX_AGE)
        static_roots.each { |urls, root, max_age| inner = static(inner, urls, root, max_age) }
        Web::Headers.new(inner)
      end

      def static(app, urls, root, max_age)
        Rack::Static.new(app, urls:, root:, cascade: true,
                              header_rules: [[:all, { "cache-control" => "private, max-age=#{max_age}" }]])
      end
    end

    def call(env)
      self.class.call(env)
    end

    def settings
      self.class
    end

    # Instance `use` adds to the class's middlewares, as Sidekiq's does.
    def use(...)
      self.class.use(...)
    end
  end
end

require "sidekiq/web/pages"
