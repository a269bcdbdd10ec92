# frozen_string_literal: true

# Writes the Makefile RubyGems runs to build the native library with cargo. (The rb_sys gem,
# which usually does this, is not available everywhere Ferrokiq is installed.)
#
# Before writing it, checks that cargo and rustc are there and at least the workspace's
# `rust-version`, and otherwise stops with one sentence saying what to install.
#
# The library is installed once, as lib/ferrokiq/ferrokiq.so in the gem's own directory (where
# `rake compile` puts it in a checkout, and where `require "ferrokiq/ferrokiq"` finds it through
# the gem's lib/ require path). `make install` puts nothing in RubyGems' staging directory:
# RubyGems would copy whatever is there to lib/ *and* move it to the extensions directory, and
# `make` leaves no copy in ext/ferrokiq/.

require "etc"
require "rbconfig"
require "shellwords"

# Finds the cargo and rustc the build will run and checks them against the workspace's
# rust-version. #check returns self, or raises RuntimeError with the one sentence for the user.
class FerrokiqRustToolchain
  ADVICE = "install it with rustup (https://rustup.rs) and install the gem again"

  # The minimum Rust version, from the root Cargo.toml's [workspace.package] (shipped in the gem).
  def self.required_version(cargo_toml = File.expand_path("../../Cargo.toml", __dir__))
    File.read(cargo_toml)[/^rust-version\s*=\s*"([\d.]+)"/, 1] or raise "no rust-version in #{cargo_toml}"
  end

  # +path+ is the PATH the build must run with (rustup's bin directory first when cargo was
  # found only there).
  attr_reader :cargo, :cargo_version, :rustc, :rustc_version, :path

  def initialize(env: ENV, home: Dir.home)
    @env = env
    @need = self.class.required_version
    @path = env["PATH"].to_s
    @home_bin = File.join(env.fetch("CARGO_HOME", File.join(home, ".cargo")), "bin")
  end

  def check
    @cargo, @cargo_version, said = find_cargo
    refuse_unless_usable("cargo", @cargo, @cargo_version, said)
    @rustc = @env["RUSTC"] || which("rustc", @path)
    fail_with("found cargo #{@cargo_version} at #{@cargo} but no rustc on PATH") unless @rustc
    @rustc_version, said = version_of(@rustc)
    refuse_unless_usable("rustc", @rustc, @rustc_version, said)
    self
  end

  private

  def find_cargo
    return [@env["CARGO"], *version_of(@env["CARGO"])] if @env["CARGO"]

    on_path = which("cargo", @path)
    found = on_path && [on_path, *version_of(on_path)]
    return found if found && usable?(found[1])

    # None on PATH (sudo's secure_path, a non-login shell), or an older one ahead of rustup's
    # (Debian 12's /usr/bin/cargo): rustup's own in ~/.cargo/bin, when it is there and new enough.
    home_cargo = File.join(@home_bin, "cargo")
    fail_with(*missing_cargo) unless found || File.executable?(home_cargo)
    return found if on_path == home_cargo || !File.executable?(home_cargo)

    rustup = [home_cargo, *version_of(home_cargo)]
    return found if found && !usable?(rustup[1])

    @path = [@home_bin, @path].join(File::PATH_SEPARATOR)
    rustup
  end

  def which(name, path)
    path.split(File::PATH_SEPARATOR).each do |dir|
      file = File.join(dir, name)
      return file if File.file?(file) && File.executable?(file)
    end
    nil
  end

  # ["1.88.0", first line] from "cargo 1.88.0 (873a06493 2025-05-10)" or "rustc 1.90.0-nightly (...)".
  def version_of(program)
    out = IO.popen([program, "--version", { err: %i[child out] }], &:read).to_s
    [out[/\A\S+ (\d+\.\d+(?:\.\d+)?)/, 1], out.lines.first.to_s.strip.chomp(".")]
  rescue SystemCallError => e
    [nil, e.message]
  end

  def usable?(version)
    version && Gem::Version.new(version) >= Gem::Version.new(@need)
  end

  def fail_with(detail, advice = ADVICE)
    raise "Ferrokiq needs Rust #{@need} or newer (#{detail}): #{advice}"
  end

  def missing_cargo
    detail = "no cargo on PATH or in #{@home_bin}"
    user = @env["SUDO_USER"]
    user_bin = sudo_user_bin(user)
    return [detail] unless user_bin && user_bin != @home_bin && File.executable?(File.join(user_bin, "cargo"))

    ["#{detail}, and sudo does not use #{user}'s in #{user_bin}",
     "run gem install as #{user} without sudo, or install Rust for #{Etc.getpwuid.name} with rustup " \
     "(https://rustup.rs)"]
  end

  def sudo_user_bin(user)
    user && File.join(Dir.home(user), ".cargo", "bin")
  rescue ArgumentError
    nil
  end

  def refuse_unless_usable(name, program, version, said)
    return if usable?(version)

    if version
      fail_with("found #{name} #{version} at #{program}")
    elsif said.include?("rustup")
      fail_with("#{program} --version said: #{said}", "run `rustup default stable` and install the gem again")
    else
      fail_with("#{program} --version said: #{said.empty? ? "nothing" : said}")
    end
  end
end

# RubyGems runs this file as `ruby extconf.rb`; the specs load it for FerrokiqRustToolchain alone.
if File.basename($PROGRAM_NAME) == "extconf.rb"
  begin
    rust = FerrokiqRustToolchain.new.check
  rescue RuntimeError => e
    abort e.message
  end
  puts "Building with cargo #{rust.cargo_version} (#{rust.cargo}) and rustc #{rust.rustc_version} (#{rust.rustc})"

  name = "ferrokiq"
  soext = RbConfig::CONFIG["SOEXT"] || RbConfig::CONFIG["DLEXT"]
  # The `gem` profile (root Cargo.toml): the release build without debug info.
  profile = ENV.fetch("FERROKIQ_CARGO_PROFILE", "gem")
  profile_dir = { "dev" => "debug", "test" => "debug", "bench" => "release" }.fetch(profile, profile)
  # A shared target dir (FERROKIQ_CARGO_TARGET_DIR) lets a test install reuse an earlier build;
  # a private one is removed after install so the gem does not keep hundreds of MB of objects.
  shared_target = ENV.fetch("FERROKIQ_CARGO_TARGET_DIR", nil)
  target_dir = shared_target || File.join(Dir.pwd, "target")
  cleanup = shared_target ? "true" : "rm -rf $(TARGET_DIR)"
  path_line = rust.path == ENV["PATH"].to_s ? "" : "export PATH := #{rust.path.gsub("$", "$$")}"

  File.write("Makefile", <<~MAKE)
    RUBY = #{Shellwords.escape(RbConfig.ruby)}
    CARGO = #{Shellwords.escape(rust.cargo)}
    #{path_line}
    SRCDIR = #{Shellwords.escape(__dir__)}
    TARGET_DIR = #{Shellwords.escape(target_dir)}
    RUSTLIB = $(TARGET_DIR)/#{profile_dir}/lib#{name}.#{soext}
    LIBDIR = #{Shellwords.escape(File.expand_path("../../lib/#{name}", __dir__))}
    DLLIB = $(LIBDIR)/#{name}.#{RbConfig::CONFIG["DLEXT"]}

    all: build

    build: FORCE
    \tRUBY=$(RUBY) $(CARGO) build --lib --locked --profile #{profile} --manifest-path $(SRCDIR)/Cargo.toml --target-dir $(TARGET_DIR)

    # Copy then rename: a process that has the old library mapped keeps a valid file.
    install: build
    \tmkdir -p $(LIBDIR)
    \tcp $(RUSTLIB) $(DLLIB).tmp
    \tmv $(DLLIB).tmp $(DLLIB)
    \t#{cleanup}

    clean:
    \trm -f $(DLLIB).tmp

    FORCE:
    .PHONY: all build install clean FORCE
  MAKE
end
