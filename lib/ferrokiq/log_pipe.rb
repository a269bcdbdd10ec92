# frozen_string_literal: true

require "stringio"

module Ferrokiq
  # Standard output of a server whose engine writes the per-job log lines (Sidekiq's default
  # logger on stdout). Those lines are written by a thread of the engine, in batches; anything
  # written to stdout directly would overtake the lines still queued there. So while the
  # server runs, the logger's device and `$stdout` hand their text to the same queue, and the
  # job lines, the logger's lines and a job's own `puts` reach stdout (a terminal, a file or a
  # pipe) in the order they were written (docs/design.md, §12).
  class LogPipe
    # Routes +logger+ (a Sidekiq::Logger on stdout) and `$stdout` through +engine+. Returns
    # the pipe; #restore undoes it.
    def self.route(engine, logger)
      new(engine, $stdout, logger).tap(&:install)
    end

    def initialize(engine, stdout, logger)
      @engine = engine
      @stdout = stdout
      @logger = logger
    end

    def install
      @logger.write_to(self)
      $stdout = self
      at_exit { @engine.flush_log }
    end

    # Everything written so far reaches stdout, then stdout is written directly again.
    def restore
      @engine.flush_log
      $stdout = @stdout
      @logger.write_to(@stdout)
    end

    def write(*texts)
      text = texts.join
      @stdout.write(text) unless @engine.write_log(text)
      text.bytesize
    end

    # Kernel#puts and #print call these on a `$stdout` that is not an IO; IO's own rules
    # (arrays, newlines, `$,`) come from StringIO, then the text goes out as one write.
    %i[puts print printf].each do |name|
      define_method(name) do |*args|
        formatted = StringIO.new
        formatted.public_send(name, *args)
        write(formatted.string)
        nil
      end
    end

    def <<(text)
      write(text.to_s)
      self
    end

    # The engine's writer flushes as it goes.
    def flush
      self
    end

    def sync
      true
    end

    def sync=(value)
      value
    end

    # The logger's device closes its IO at exit; stdout stays open.
    def close
      nil
    end

    # Everything else an IO answers (fileno, tty?, winsize...) is stdout's own.
    def method_missing(name, ...)
      @stdout.respond_to?(name) ? @stdout.public_send(name, ...) : super
    end

    def respond_to_missing?(name, include_private = false)
      @stdout.respond_to?(name) || super
    end
  end
end
