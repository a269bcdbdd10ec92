# frozen_string_literal: true

require "erb"
require "digest"

module Sidekiq
  # The context a route's block (and its templates) runs in, one per request: params, session,
  # halt, redirect, json, erb, and the helpers (Sidekiq::Web::Helpers, plus those extensions add
  # with `app.helpers`).
  class WebAction
    include Web::Helpers
    include Web::Paging

    LAYOUT = :layout
    LOCAL_NAME = /\A[a-z_][a-zA-Z0-9_]*\z/
    TEMPLATE_LOCK = Mutex.new

    # `Sidekiq::WebAction.new(:get, "/path", rack_app)` (the form the configuration guide
    # shows) is a route to register, not a request context: see Sidekiq::Web::CallableRoute.
    def self.new(*args, &block)
      return Web::CallableRoute.new(*args) if args.first.is_a?(Symbol)

      super
    end

    attr_reader :env, :block

    def initialize(env, block, route_params = {})
      @env = env
      @block = block
      @route_params = route_params.to_h.transform_keys(&:to_s)
    end

    def settings
      Web
    end

    def request
      @request ||= Rack::Request.new(env)
    end

    def session
      env["rack.session"]
    end

    # Query and form params with the route's, by String or Symbol key.
    def params
      @params ||= begin
        merged = request.params.merge(@route_params)
        merged.default_proc = proc { |hash, key| hash[key.to_s] if key.is_a?(Symbol) }
        merged
      end
    end

    # The route's captures: all of them (a Hash with String and Symbol keys) or one.
    def route_params(key = nil)
      return @route_params[key.to_s] if key

      @route_params.merge(@route_params.transform_keys(&:to_sym))
    end

    def url_params(key)
      request.params[key.to_s]
    end

    # Ends the request with +status+ (its number as a text/plain body).
    def halt(status)
      throw :halt, [status, { "content-type" => "text/plain" }, [status.to_s]]
    end

    # Ends the request with a 302 to +location+ (a path under this host).
    def redirect(location)
      throw :halt, [302, { "location" => "#{request.base_url}#{location}" }, []]
    end

    def reload_page
      redirect("#{request.script_name}#{request.path_info}")
    end

    def json(payload)
      [200, { "content-type" => "application/json", "cache-control" => "private, no-store" },
       [Sidekiq.dump_json(payload)]]
    end

    # Renders a template (a Symbol names `<views>/<name>.erb`; a String is the template itself)
    # with +locals+; the outermost call also wraps the result in the layout.
    def erb(content, options = {})
      locals = options[:locals] || {}
      return render_template(content, options[:views], locals) if @rendering

      begin
        @rendering = true
        page = render_template(content, options[:views], locals)
        render_template(LAYOUT, Web::VIEWS, {}) { page }
      ensure
        @rendering = false
      end
    end

    def render(engine, content, options = {})
      raise ArgumentError, "only erb templates are supported, not #{engine}" unless engine == :erb

      erb(content, options)
    end

    private

    def render_template(content, views, locals, &block)
      method = template_method(content, views, locals.keys)
      send(method, locals, &block)
    end

    # Compiles each template once into a method (per set of local names).
    def template_method(content, views, local_names)
      names = local_names.map(&:to_s)
      bad = names.grep_v(LOCAL_NAME)
      raise ArgumentError, "template locals must be plain names: #{bad.inspect}" unless bad.empty?

      source, file = template_source(content, views)
      name = :"_erb_#{Digest::SHA256.hexdigest([file, source, names].inspect)[0, 24]}"
      TEMPLATE_LOCK.synchronize do
        next if WebAction.method_defined?(name, false) || WebAction.private_method_defined?(name, false)

        assigns = names.map { |local| "#{local} = locals.fetch(:#{local}) { locals[#{local.inspect}] }; " }.join
        code = ERB.new(source, trim_mode: "-").src
        # Template errors point at the template file.
        WebAction.class_eval("def #{name}(locals); #{assigns}\n#{code}\nend", file, 0) # rubocop:disable Style/EvalWithLocation
      end
      name
    end

    def template_source(content, views)
      case content
      when Symbol
        file = File.join(views || settings.views, "#{content}.erb")
        file = File.join(Web::VIEWS, "#{content}.erb") unless File.exist?(file)
        [File.read(file), file]
      when String then [content, "(template)"]
      else raise ArgumentError, "a template is a Symbol or a String, not #{content.class}"
      end
    end
  end
end
