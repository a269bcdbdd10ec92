# frozen_string_literal: true

# Writes the Makefile RubyGems runs to build the native library with cargo. (The rb_sys gem,
# which usually does this, is not available everywhere Ferrokiq is installed.)

require "rbconfig"
require "shellwords"

name = "ferrokiq"
dlext = RbConfig::CONFIG["DLEXT"]
soext = RbConfig::CONFIG["SOEXT"] || dlext
profile = ENV.fetch("FERROKIQ_CARGO_PROFILE", "release")
profile_dir = profile == "dev" ? "debug" : profile
# A shared target dir (FERROKIQ_CARGO_TARGET_DIR) lets a test install reuse an earlier build;
# a private one is removed after install so the gem does not keep hundreds of MB of objects.
shared_target = ENV.fetch("FERROKIQ_CARGO_TARGET_DIR", nil)
target_dir = shared_target || File.join(Dir.pwd, "target")
cleanup = shared_target ? "true" : "rm -rf $(TARGET_DIR)"

File.write("Makefile", <<~MAKE)
  RUBY = #{Shellwords.escape(RbConfig.ruby)}
  CARGO = #{ENV.fetch("CARGO", "cargo")}
  SRCDIR = #{Shellwords.escape(__dir__)}
  TARGET_DIR = #{Shellwords.escape(target_dir)}
  RUSTLIB = $(TARGET_DIR)/#{profile_dir}/lib#{name}.#{soext}
  DLLIB = #{name}.#{dlext}
  RUBYARCHDIR = #{RbConfig::CONFIG["sitearchdir"]}/#{name}

  all: $(DLLIB)

  $(DLLIB): FORCE
  \tRUBY=$(RUBY) $(CARGO) build --lib --locked --profile #{profile} --manifest-path $(SRCDIR)/Cargo.toml --target-dir $(TARGET_DIR)
  \tcp $(RUSTLIB) $(DLLIB)

  install: $(DLLIB)
  \tmkdir -p $(RUBYARCHDIR)
  \tcp $(DLLIB) $(RUBYARCHDIR)/$(DLLIB)
  \t#{cleanup}

  clean:
  \trm -f $(DLLIB)

  FORCE:
  .PHONY: all install clean FORCE
MAKE
