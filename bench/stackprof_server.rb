# frozen_string_literal: true

# Loaded with -r before a server (Ferrokiq's or Sidekiq 6.4.1) by bench/realistic_profile.rb
# with STACKPROF=1: samples every thread's Ruby stack in wall-clock mode (STACKPROF_MODE to
# change; cpu counts only the time the process runs) from start to exit, and writes the
# samples to STACKPROF_OUT. Needs Debian's ruby-stackprof. Never loaded by lib/.

require "stackprof"

StackProf.start(mode: ENV.fetch("STACKPROF_MODE", "wall").to_sym, interval: Integer(ENV.fetch("STACKPROF_US", 200)),
                raw: true)
at_exit do
  StackProf.stop
  StackProf.results(ENV.fetch("STACKPROF_OUT"))
end
