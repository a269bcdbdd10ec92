# frozen_string_literal: true

module Ferrokiq
  # A sleep that another thread can cut short (Ruby 3.1's Queue#pop has no timeout).
  class Sleeper
    def initialize
      @mutex = Mutex.new
      @wakeup = ConditionVariable.new
      @woken = false
    end

    # Sleeps up to +seconds+; returns early (true) once #wake was called.
    def sleep(seconds)
      @mutex.synchronize do
        @wakeup.wait(@mutex, seconds) unless @woken
        @woken
      end
    end

    def wake
      @mutex.synchronize do
        @woken = true
        @wakeup.broadcast
      end
    end
  end
end
