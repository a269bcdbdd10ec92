# frozen_string_literal: true

require "ferrokiq/log_pipe"

module Ferrokiq
  # A server's logger whose lines the core formats and writes (docs/design.md, §12): Sidekiq's
  # own logger class with one of Sidekiq's three formatters, writing to an IO with a file
  # descriptor (standard output or error, a file, a path Ruby's LogDevice opened) that Ruby does
  # not rotate. Ruby still checks the level and converts the message; the line's values go to
  # a `Ferrokiq::Native::LogWriter`, which formats them exactly as the Ruby formatter would and
  # writes them in batches. Every other logger keeps writing through Ruby.
  class NativeLog
    LAYOUTS = {
      Sidekiq::Logger::Formatters::Pretty => "pretty",
      Sidekiq::Logger::Formatters::WithoutTimestamp => "without_timestamp",
      Sidekiq::Logger::Formatters::JSON => "json"
    }.freeze
    private_constant :LAYOUTS

    # Loggers other than the server's own are attached only when they write to a file of
    # their own: their lines would not keep their order with the server's on a shared stream.
    FIRST_FILE = 3
    # Loggers made while the server runs that are attached as they are made, at most. An
    # attachment holds its logger, its file and a writer thread until the server stops, so an
    # app that makes a logger per job would otherwise pile them up; past this many, new ones
    # write through Ruby, as they would anywhere else.
    MADE_WHILE_SERVING = 8
    private_constant :FIRST_FILE, :MADE_WHILE_SERVING

    class << self
      # The attachments in force in this process.
      def attached
        @attached ||= []
      end

      # At server start: the server's logger (its attachment, or nil), and every other
      # Sidekiq::Logger made so far in this process that writes to a file of its own. Loggers
      # made later, until #detach_all, are offered to #adopt.
      def attach_server_loggers(server_logger)
        @serving = true
        @adopted = 0
        primary = attach(server_logger)
        Sidekiq::Logger::MADE.each_value do |logger|
          next if logger.equal?(server_logger) || attached.any? { |a| a.logger.equal?(logger) }

          attach_own_file(logger)
        end
        primary
      end

      # A Sidekiq::Logger just made (Sidekiq::Logger#initialize): while a server runs, it is
      # attached as the app's loggers are at the start, so that a logger a job makes when first
      # needed writes natively too. Returns the attachment, or nil.
      def adopt(logger)
        return unless @serving && @adopted < MADE_WHILE_SERVING

        attachment = attach_own_file(logger)
        @adopted += 1 if attachment
        attachment
      end

      # Hands +logger+'s lines to a native writer when it qualifies; the attachment, or nil
      # when Ruby keeps writing them.
      def attach(logger)
        layout = layout_of(logger) or return
        device = device_of(logger) or return
        device.flush # what Ruby buffered comes first
        new(logger, Native::LogWriter.new(device.fileno, layout), device, layout).tap(&:install)
      end

      def detach_all
        @serving = false
        attached.dup.each(&:detach)
      end

      # A forked child attaches nothing: its lines go through Ruby (see #forked).
      def forked_child
        @serving = false
        attached.dup.each(&:forked)
      end

      # +logger+ writes through Ruby from now on, and its writer lets the device go (the
      # logger is closing it, or writes elsewhere now).
      def release(logger)
        attached.select { |attachment| attachment.logger.equal?(logger) }.each do |attachment|
          attachment.detach
          attachment.writer.close
        end
      end

      def layout_of(logger)
        layout_for(logger.formatter) if logger.instance_of?(Sidekiq::Logger)
      end

      # The writer's name for one of Sidekiq's formatters (not a subclass), or nil.
      def layout_for(formatter)
        LAYOUTS[formatter.class]
      end

      # Attaches +logger+ when it writes to a file of its own: on a stream the server's logger
      # shares, its lines would not keep their order with the server's.
      def attach_own_file(logger)
        device = device_of(logger)
        attach(logger) if device && device.fileno >= FIRST_FILE
      end

      # The logger's IO, when the core can write to it. A LogDevice with a shift age rotates
      # the file itself on writes, so that logger stays with Ruby.
      def device_of(logger)
        logdev = logger.instance_variable_get(:@logdev) or return
        return unless [nil, 0].include?(logdev.instance_variable_get(:@shift_age))

        device = logdev.dev
        device if device.is_a?(::IO) && !device.closed?
      end
    end

    attr_reader :logger, :writer

    def initialize(logger, writer, device, layout)
      @logger = logger
      @writer = writer
      @device = device
      @layout = layout
    end

    def install
      @logger.write_natively(@writer, @layout)
      # A job's `puts` must not overtake the lines queued for the same standard output.
      @pipe = LogPipe.route(@writer) if $stdout.respond_to?(:fileno) && @device.fileno == $stdout.fileno
      self.class.attached << self
      at_exit { @writer.flush }
    end

    # Everything queued is written, then Ruby writes the logger's lines again.
    def detach
      @writer.flush
      @pipe&.restore
      @logger.write_natively(nil)
      self.class.attached.delete(self)
    end

    # A forked child has no writer thread: its lines go through Ruby. What the parent queued
    # is the parent's to write.
    def forked
      @pipe&.release
      @logger.write_natively(nil)
      self.class.attached.delete(self)
    end

    # `Process._fork` is Ruby's hook around every fork (Kernel#fork, Process.fork, ...).
    module ForkHook
      def _fork
        pid = super
        NativeLog.forked_child if pid.zero?
        pid
      end
    end
    ::Process.singleton_class.prepend(ForkHook)
  end
end
