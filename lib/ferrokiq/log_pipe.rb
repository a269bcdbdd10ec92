# frozen_string_literal: true

require "stringio"

module Ferrokiq
  # Standard output of a server whose logger writes to standard output through the core
  # (Ferrokiq::NativeLog). The core writes the logger's lines and the job lines from a thread
  # of its own, in batches; anything written to stdout directly would overtake the lines still
  # queued there. So while the server runs, `$stdout` hands its text to the same writer, and
  # the job lines, the logger's lines and a job's own `puts` reach stdout (a terminal, a file
  # or a pipe) in the order they were written (docs/design.md, §12).
  class LogPipe
    # Routes `$stdout` through +writer+ (a Ferrokiq::Native::LogWriter). Returns the pipe;
    # #restore undoes it.
    def self.route(writer)
      new(writer, $stdout).tap(&:install)
    end

    def initialize(writer, stdout)
      @writer = writer
      @stdout = stdout
    end

    def install
      $stdout = self
    end

    # Everything written so far reaches stdout, then stdout is written directly again.
    def restore
      @writer.flush
      release
    end

    # Stdout is written directly again, without waiting for the writer (a forked child has none).
    def release
      $stdout = @stdout
    end

    def write(*texts)
      text = texts.join
      @writer.text(text)
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

    # The writer flushes as it goes.
    def flush
      self
    end

    def sync
      true
    end

    def sync=(value)
      value
    end

    # Stdout stays open.
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
