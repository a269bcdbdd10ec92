# frozen_string_literal: true

module Sidekiq
  # Dispatches a request to its route and turns the block's result into a response. Its class
  # methods are the route DSL extensions get in `registered(app)`: get/post/put/patch/delete/
  # head, helpers, before/after, settings, tabs.
  class WebApplication
    NOT_FOUND = [404, { "content-type" => "text/plain", "x-cascade" => "pass" }, ["Not Found"]].freeze
    PAGE_HEADERS = { "content-type" => "text/html", "cache-control" => "private, no-store" }.freeze

    class << self
      def router
        @router ||= Web::Router.new
      end

      Web::Router::VERBS.each do |verb|
        define_method(verb.downcase) { |path, &block| router.add(verb, path, block) }
      end

      # Mixes a module (or the block's methods) into every action.
      def helpers(mod = nil, &block)
        WebAction.include(mod) if mod
        WebAction.class_exec(&block) if block
      end

      # Blocks run (in the action) before / after every route whose path matches +glob+.
      def before(glob = nil, &block)
        hooks[:before] << [glob, block]
      end

      def after(glob = nil, &block)
        hooks[:after] << [glob, block]
      end

      def hooks
        @hooks ||= { before: [], after: [] }
      end

      def settings
        Web
      end

      def tabs
        Web.tabs
      end

      def set(name, value)
        Web.set(name, value)
      end
    end

    def call(env)
      route, route_params = self.class.router.match(env["REQUEST_METHOD"], env["PATH_INFO"])
      return NOT_FOUND.map(&:dup) unless route

      env["rack.route_params"] = route_params.transform_keys(&:to_sym)
      action = WebAction.new(env, route.block, route_params)
      response = catch(:halt) do
        run_hooks(:before, env, action)
        result = action.instance_exec(&route.block)
        run_hooks(:after, env, action)
        result
      end
      finish(env, action, response)
    end

    private

    def run_hooks(kind, env, action)
      path = Rack::Utils.unescape(env["PATH_INFO"].to_s)
      self.class.hooks[kind].each do |glob, hook|
        action.instance_exec(env, action, &hook) if glob.nil? || File.fnmatch?(glob, path)
      end
    end

    def finish(env, action, response)
      status, headers, body = response.is_a?(Array) ? response : [200, PAGE_HEADERS.dup, [response.to_s]]
      headers = Web::Headers.normalize(headers)
      headers["cache-control"] ||= "private, no-store"
      headers["content-language"] ||= action.locale
      headers["content-security-policy"] ||= Web::Headers.content_security_policy(action.csp_nonce)
      body = [] if env["REQUEST_METHOD"] == "HEAD"
      [status, headers, body]
    end
  end
end
