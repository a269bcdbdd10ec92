# frozen_string_literal: true

require "erb"
require "optparse"
require "yaml"
require "sidekiq"
require "sidekiq/launcher"

module Sidekiq
  # `bundle exec sidekiq`: Sidekiq 7's command line and config/sidekiq.yml, running on
  # Ferrokiq's engine.
  class CLI
    # A bad flag, file or value: shown as a message, exit status 1.
    class UsageError < StandardError; end

    SIGNALS = %w[INT TERM TSTP TTIN].freeze

    attr_reader :config, :launcher, :environment

    def self.instance
      @instance ||= new
    end

    def initialize
      @config = Sidekiq.default_configuration
    end

    def logger
      @config.logger
    end

    # Reads flags and the YAML config; raises UsageError on bad input.
    def parse(args = ARGV.dup)
      options = parse_options(args)
      @environment = options[:environment] || ENV["APP_ENV"] || ENV["RAILS_ENV"] || ENV["RACK_ENV"] || "development"
      options[:config_file] ||= default_config_file(options[:require])
      options = load_config(options[:config_file]).merge(options) if options[:config_file]
      options[:queues] = ["default"] if options[:queues].nil? || options[:queues].empty?
      options[:concurrency] ||= Integer(ENV["RAILS_MAX_THREADS"]) if ENV["RAILS_MAX_THREADS"]
      apply(options)
      validate!
      self
    rescue OptionParser::ParseError, ArgumentError, Psych::Exception => e
      raise UsageError, e.message
    end

    def run
      boot_application
      self_read, self_write = IO.pipe
      SIGNALS.each { |signal| trap_signal(signal, self_write) }
      logger.info("Running in #{RUBY_DESCRIPTION}")
      logger.info("Ferrokiq #{Ferrokiq::VERSION} (Sidekiq #{Sidekiq::VERSION} API), #{@config.concurrency} threads, " \
                  "queues #{@config.queues.join(", ")}, #{@config[:fetch]} fetch")
      @config.fire_event(:startup, reraise: true)
      write_pidfile
      @launcher = Sidekiq::Launcher.new(@config)
      @launcher.run
      wait_for_signals(self_read)
    rescue Interrupt
      logger.info("Shutting down")
      @launcher&.stop
      logger.info("Bye!")
    end

    def handle_signal(signal)
      logger.debug("Got #{signal} signal")
      case signal
      when "INT", "TERM" then raise Interrupt
      when "TSTP"
        logger.info("Received TSTP, no longer accepting new work")
        @launcher.quiet
      when "TTIN" then dump_threads
      end
    end

    private

    def wait_for_signals(self_read)
      while self_read.wait_readable
        signal = self_read.gets.strip
        handle_signal(signal)
      end
    end

    def trap_signal(signal, self_write)
      previous = Signal.trap(signal) do
        previous.call if previous.respond_to?(:call)
        self_write.puts(signal)
      end
    end

    def dump_threads
      Thread.list.each do |thread|
        logger.warn("Thread TID-#{Sidekiq.tid(thread)} #{thread.name}")
        logger.warn(thread.backtrace ? thread.backtrace.join("\n") : "<no backtrace available>")
      end
    end

    def parse_options(args)
      options = {}
      parser = option_parser(options)
      parser.parse!(args)
      raise UsageError, "unexpected arguments: #{args.join(" ")}\n#{parser}" unless args.empty?

      options
    end

    def option_parser(options)
      OptionParser.new do |o|
        o.banner = "sidekiq [options]"
        o.on("-c", "--concurrency INT", "processor threads to use") { |arg| options[:concurrency] = Integer(arg) }
        o.on("-e", "--environment ENV", "Application environment") { |arg| options[:environment] = arg }
        o.on("-g", "--tag TAG", "Process tag for procline") { |arg| options[:tag] = arg }
        o.on("-t", "--timeout NUM", "Shutdown timeout") { |arg| options[:timeout] = Integer(arg) }
        o.on("-v", "--verbose", "Print more verbose output") { options[:verbose] = true }
        o.on("-C", "--config PATH", "path to YAML config file") { |arg| options[:config_file] = arg }
        work_options(o, options)
        informational_options(o)
      end
    end

    def work_options(parser, options)
      parser.on("-q", "--queue QUEUE[,WEIGHT]", "Queues to process with optional weights") do |arg|
        (options[:queues] ||= []) << arg
      end
      parser.on("-r", "--require [PATH|DIR]", "Location of Rails application with jobs or file to require") do |arg|
        options[:require] = arg
      end
      parser.on("--fetch STRATEGY", %w[reliable basic], "reliable (default) or basic (Sidekiq's BRPOP)") do |arg|
        options[:fetch] = arg.to_sym
      end
    end

    def informational_options(parser)
      parser.on("-V", "--version", "Print version and exit") do
        puts "Sidekiq #{Sidekiq::VERSION} (Ferrokiq #{Ferrokiq::VERSION})"
        exit 0
      end
      parser.on_tail("-h", "--help", "Show help") do
        puts parser
        exit 1
      end
    end

    def default_config_file(require_path)
      dir = File.directory?(require_path.to_s) ? File.join(require_path, "config") : "config"
      %w[sidekiq.yml sidekiq.yml.erb].map { |name| File.join(dir, name) }.find { |path| File.exist?(path) }
    end

    # ERB, then YAML with symbol or string keys; the section named after the environment
    # overrides the top level.
    def load_config(path)
      raise UsageError, "No such file #{path}" unless File.exist?(path)

      erb = ERB.new(File.read(path), trim_mode: "-")
      erb.filename = File.expand_path(path)
      loaded = YAML.safe_load(erb.result, permitted_classes: [Symbol], aliases: true) || {}
      raise UsageError, "#{path}: expected a Hash of options, got #{loaded.class}" unless loaded.is_a?(Hash)

      options = deep_symbolize(loaded)
      options = options.merge(options.delete(@environment.to_sym) || {})
      options.delete(:strict) # strictness follows from the queue weights, as in Sidekiq 7
      options
    end

    def deep_symbolize(value)
      case value
      when Hash then value.to_h { |key, item| [key.respond_to?(:to_sym) ? key.to_sym : key, deep_symbolize(item)] }
      when Array then value.map { |item| deep_symbolize(item) }
      else value
      end
    end

    def apply(options)
      options.delete(:config_file)
      queues = options.delete(:queues)
      @config.merge!(options)
      @config[:environment] = @environment
      @config.queues = queues
      @config.concurrency = @config[:concurrency]
      @config[:fetch] = @config[:fetch].to_sym
      @config[:labels] = Set.new(Array(@config[:labels]))
      @config.logger.level = ::Logger::DEBUG if @config[:verbose]
    end

    def validate!
      %i[concurrency timeout].each do |option|
        raise UsageError, "#{option}: #{@config[option]} is not a valid value" if @config[option].to_i <= 0
      end
      raise UsageError, "fetch: #{@config[:fetch]} is not a valid value (reliable or basic)" unless
        %i[reliable basic].include?(@config[:fetch])

      path = @config[:require]
      return if File.file?(path) || (File.directory?(path) && File.exist?(File.join(path, "config/application.rb")))
      return if path == "." && !File.exist?("config/application.rb")

      raise UsageError, "Please point Sidekiq to a Rails application or a Ruby file to load your job classes " \
                        "with -r [DIR|FILE] (#{path} is neither)"
    end

    def boot_application
      ENV["RACK_ENV"] = ENV["RAILS_ENV"] = @environment
      path = @config[:require]
      if File.directory?(path)
        return unless File.exist?(File.join(path, "config/application.rb"))

        require "rails"
        require "sidekiq/rails" # before the app's initializers, which it takes part in
        require File.expand_path(File.join(path, "config/environment.rb"))
        @config[:tag] ||= File.basename(::Rails.root.to_s)
        logger.info("Rails #{::Rails.version} app at #{::Rails.root} is up (environment: #{@environment})")
      else
        require File.expand_path(path)
        # Active Job without Rails: its jobs (either wrapper class) run here too.
        require "sidekiq/active_job" if defined?(::ActiveJob)
      end
    end

    def write_pidfile
      path = @config[:pidfile]
      File.write(path, ::Process.pid.to_s) if path
    end
  end
end
