# frozen_string_literal: true

require "optparse"
require "sidekiq"
require "sidekiq/launcher"
require "sidekiq/systemd"
require "ferrokiq/malloc_arenas"
require "ferrokiq/operations"
require "ferrokiq/queue_limit_settings"
require "ferrokiq/dynamic_queues"
require "sidekiq/cli/config_file"
require "sidekiq/cli/capsule_settings"

module Sidekiq
  # `bundle exec sidekiq`: Sidekiq 7's command line and config/sidekiq.yml, running on
  # Ferrokiq's engine.
  class CLI
    SIGNALS = %w[INT TERM TSTP TTIN].freeze
    FETCH_STRATEGIES = %i[reliable basic].freeze

    # A trap handler may not log or take locks, so it only writes the signal's name to a pipe;
    # the main thread reads the names back and acts on them.
    class SignalInbox
      def initialize(signals)
        @inbox, @outbox = IO.pipe
        signals.each { |signal| forward(signal) }
      end

      # Yields each signal's name as it arrives, for as long as the process runs.
      def each_signal
        @inbox.each_line { |line| yield line.chomp }
      end

      private

      def forward(signal)
        chained = Signal.trap(signal) do
          chained.call if chained.respond_to?(:call) # e.g. a handler the app installed first
          @outbox.puts(signal)
        end
      end
    end

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
      options = ConfigFile.new(options[:config_file], @environment).options.merge(options) if options[:config_file]
      options[:queues] = ["default"] if options[:queues].nil? || options[:queues].empty?
      options[:concurrency] ||= Integer(ENV["RAILS_MAX_THREADS"]) if ENV["RAILS_MAX_THREADS"]
      apply(options)
      validate!
      self
    rescue OptionParser::ParseError, ArgumentError, Psych::Exception => e
      raise UsageError, e.message
    end

    MINIMUM_REDIS = Launcher::MINIMUM_REDIS

    # As Sidekiq 7 does it: boot the app, check Redis, then the startup event (the process
    # still has one thread), then the worker threads.
    def run
      boot_application
      inbox = SignalInbox.new(SIGNALS)
      logger.info("Running in #{RUBY_DESCRIPTION}")
      logger.info("Ferrokiq #{Ferrokiq::VERSION} (Sidekiq #{Sidekiq::VERSION} API), #{@config.concurrency} threads, " \
                  "queues #{@config.queues.uniq.join(", ")}, #{@config[:fetch]} fetch")
      CapsuleSettings.describe(@config).each { |line| logger.info(line) }
      check_redis!
      Ferrokiq::QueueLimitSettings.apply(@config)
      @config.fire_event(:startup, reraise: true)
      write_pidfile
      @launcher = Sidekiq::Launcher.new(@config)
      logger.info("Starting processing, hit Ctrl-C to stop")
      @launcher.run
      @operations = Ferrokiq::Operations.start(@config, @launcher.engine)
      @systemd = Systemd.start(@config, @launcher)
      inbox.each_signal { |signal| handle_signal(signal) }
    rescue Interrupt # INT or TERM (see handle_signal), or Ctrl-C while the app boots
      shut_down
    end

    # A signal never kills the process by accident: only INT and TERM end it, through the
    # orderly shutdown; anything failing while handling another is logged.
    def handle_signal(signal)
      logger.debug("Got #{signal} signal")
      case signal
      when "INT", "TERM" then raise Interrupt
      when "TSTP"
        logger.info("Received TSTP, no longer accepting new work")
        @launcher.quiet
        @systemd&.quiet
      when "TTIN" then dump_threads
      end
    rescue StandardError => e
      @config.handle_exception(e, { context: "Handling #{signal}" })
    end

    private

    # Running jobs get the configured timeout to finish; the launcher requeues the rest. A
    # process whose engine failed exits 1, one over its memory limit exits 75, so a supervisor
    # (systemd, Kubernetes) restarts it.
    def shut_down
      logger.info("Shutting down")
      @systemd&.stopping
      @launcher&.stop
      @operations&.stop
      logger.info("Bye!")
      exit(1) if @launcher&.failure
      exit(Ferrokiq::MemoryLimit::EXIT_STATUS) if @launcher&.memory_limit&.reached?
    end

    def dump_threads
      Thread.list.each do |thread|
        logger.warn("Thread TID-#{Sidekiq.tid(thread)} #{thread.name}")
        logger.warn(thread.backtrace ? thread.backtrace.join("\n") : "<no backtrace available>")
      end
    end

    # Flags into a Hash of options; stray words are an error rather than silently ignored.
    def parse_options(args)
      flags = {}
      parser = option_parser(flags)
      leftovers = parser.parse(args)
      return flags if leftovers.empty?

      raise UsageError, "unexpected arguments: #{leftovers.join(" ")}\n#{parser}"
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
      strategies = FETCH_STRATEGIES.map(&:to_s)
      parser.on("--fetch STRATEGY", strategies, "reliable (default) or basic (Sidekiq's BRPOP)") do |arg|
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

    # config[:config_file] stays set, as in Sidekiq 7: plugins read their own sections of it.
    def apply(options)
      queues = options.delete(:queues)
      capsules = options.delete(:capsules)
      @config.merge!(options)
      @config[:environment] = @environment
      @config.queues = queues
      @config.concurrency = @config[:concurrency]
      CapsuleSettings.declare(@config, capsules)
      @config[:fetch] = @config[:fetch].to_s.to_sym
      @config[:labels] = Set.new(Array(@config[:labels]))
      @config.logger.level = ::Logger::DEBUG if @config[:verbose]
    end

    # Checked once flags and file are merged; each names the option and the value it got.
    VALUE_CHECKS = {
      concurrency: [->(value) { value.to_i.positive? }, ""],
      timeout: [->(value) { value.to_i.positive? }, ""],
      stranded_after: [->(value) { value.is_a?(Numeric) && value.positive? }, " (seconds, more than 0)"],
      fetch: [->(value) { FETCH_STRATEGIES.include?(value) }, " (#{FETCH_STRATEGIES.join(" or ")})"]
    }.freeze
    private_constant :VALUE_CHECKS

    def validate!
      VALUE_CHECKS.each do |option, (valid, hint)|
        value = @config[option]
        raise UsageError, "#{option}: #{value} is not a valid value#{hint}" unless valid.call(value)
      end
      validate_require_path!
      Ferrokiq::DynamicQueues.exclusions(@config) # raises on a `:dynamic:` it cannot read
    end

    # -r must name a job file or a Rails root; without -r, the current directory must be a
    # Rails app. A server that loaded no job classes would fail every job it took.
    def validate_require_path!
      path = @config[:require]
      return if File.file?(path) || rails_root?(path)

      place = path == "." ? "the current directory, #{Dir.pwd}," : path
      raise UsageError, "Please point Sidekiq to a Rails application or a Ruby file to load your job classes " \
                        "with -r [DIR|FILE] (#{place} is neither)"
    end

    def rails_root?(path)
      File.directory?(path) && File.exist?(File.join(path, "config/application.rb"))
    end

    def boot_application
      # Before the app starts threads of its own, which would take arenas past the limit.
      Ferrokiq::MallocArenas.limit!
      %w[RACK_ENV RAILS_ENV].each { |name| ENV[name] = @environment }
      path = @config[:require]
      if File.file?(path)
        load_job_file(path)
      elsif rails_root?(path)
        boot_rails(path)
      end
      # While one thread runs (see Sidekiq::ActiveJob.load_adapter).
      Sidekiq::ActiveJob.load_adapter if defined?(::ActiveJob) && defined?(::Sidekiq::ActiveJob)
    end

    def boot_rails(root)
      require "rails"
      require "sidekiq/rails" # before the app's initializers, which it takes part in
      require File.expand_path(File.join(root, "config/environment.rb"))
      @config[:tag] ||= File.basename(::Rails.root.to_s)
      logger.info("Rails #{::Rails.version} app at #{::Rails.root} is up (environment: #{@environment})")
    end

    def load_job_file(path)
      require File.expand_path(path)
      # Active Job without Rails: its jobs (either wrapper class) run here too.
      require "sidekiq/active_job" if defined?(::ActiveJob)
    end

    def check_redis!
      version = Gem::Version.new(@config.redis_info.fetch("redis_version", "0"))
      return if version >= MINIMUM_REDIS

      raise UsageError, "Ferrokiq needs Redis #{MINIMUM_REDIS} or newer; the server at " \
                        "#{@config.redis_pool.url} is Redis #{version}"
    end

    def write_pidfile
      path = @config[:pidfile]
      File.write(path, ::Process.pid.to_s) if path
    end
  end
end

# Iterable jobs' re-queueing middleware, added at load as Sidekiq 7.3 does.
require "sidekiq/job/interrupt_handler"
