# frozen_string_literal: true

require "fileutils"
require "json"
require "open3"
require "rbconfig"
require "tmpdir"

# The Rust version check of bin/setup (`bin/setup check-rust`, no apt) and of ext/ferrokiq/extconf.rb
# (what `gem install` runs), against fake cargo/rustc scripts on a PATH that holds nothing else.
RSpec.describe "The Rust toolchain check" do
  let(:root) { File.expand_path("../..", __dir__) }
  let(:need) { File.read(File.join(root, "Cargo.toml"))[/^rust-version\s*=\s*"([\d.]+)"/, 1] }

  around do |example|
    Dir.mktmpdir("ferrokiq-rust-check") do |dir|
      @dir = dir
      example.run
    end
  end

  # A directory holding only the tools bin/setup's check uses (no cargo, wherever this runs).
  def tools_dir
    dir = File.join(@dir, "tools")
    FileUtils.mkdir_p(dir)
    %w[bash sed head dirname].each do |tool|
      path = ENV["PATH"].split(File::PATH_SEPARATOR).map { |d| File.join(d, tool) }.find { |f| File.executable?(f) }
      File.symlink(path, File.join(dir, tool))
    end
    dir
  end

  def fake(dir, name, said)
    FileUtils.mkdir_p(dir)
    File.write(File.join(dir, name), "#!/bin/sh\necho '#{said}'\n")
    File.chmod(0o755, File.join(dir, name))
    File.join(dir, name)
  end

  def env_with(path:, home: File.join(@dir, "home"))
    FileUtils.mkdir_p(home)
    { "PATH" => path, "HOME" => home, "LANG" => "C.UTF-8" }
  end

  def setup_check(env)
    Open3.capture3(env, File.join(root, "bin", "setup"), "check-rust", unsetenv_others: true)
  end

  # Runs extconf.rb as RubyGems does, in a scratch directory; returns its output, status and Makefile.
  def extconf(env)
    build = File.join(@dir, "build")
    FileUtils.mkdir_p(build)
    out, err, status = Open3.capture3(env, RbConfig.ruby, File.join(root, "ext", "ferrokiq", "extconf.rb"),
                                      chdir: build, unsetenv_others: true)
    makefile = File.join(build, "Makefile")
    [out, err, status, File.exist?(makefile) ? File.read(makefile) : nil]
  end

  it "declares the highest rust-version of the locked dependencies" do
    out, err, status = Open3.capture3("cargo", "metadata", "--format-version", "1", "--locked", "--offline",
                                      "--filter-platform", "x86_64-unknown-linux-gnu", chdir: root)
    skip "cargo metadata needs the crates downloaded: #{err.lines.last}" unless status.success?

    metadata = JSON.parse(out)
    used = metadata["resolve"]["nodes"].to_h { |node| [node["id"], true] }
    versions = metadata["packages"].select { |pkg| used[pkg["id"]] && pkg["rust_version"] }
    highest = versions.max_by { |pkg| Gem::Version.new(pkg["rust_version"]) }
    expect(Gem::Version.new(need)).to be >= Gem::Version.new(highest["rust_version"]),
                                      "#{highest["name"]} #{highest["version"]} needs #{highest["rust_version"]}"
    ours = metadata["packages"].select { |pkg| pkg["source"].nil? }
    expect(ours.map { |pkg| pkg["rust_version"] }.uniq).to eq([need])
  end

  context "with an old cargo (Debian 12's) first on PATH" do
    it "bin/setup says in one line what to install" do
      old = fake(File.join(@dir, "old"), "cargo", "cargo 1.63.0")
      _out, err, status = setup_check(env_with(path: "#{File.dirname(old)}:#{tools_dir}"))
      expect(status.exitstatus).to eq(1)
      expect(err).to eq("bin/setup: Ferrokiq needs Rust #{need} or newer (found cargo 1.63.0 at #{old}): " \
                        "install it with rustup (https://rustup.rs) and run bin/setup again\n")
    end

    it "extconf.rb stops before writing a Makefile, with the same sentence" do
      old = fake(File.join(@dir, "old"), "cargo", "cargo 1.63.0")
      _out, err, status, makefile = extconf(env_with(path: "#{File.dirname(old)}:#{tools_dir}"))
      expect(status.exitstatus).to eq(1)
      expect(err).to eq("Ferrokiq needs Rust #{need} or newer (found cargo 1.63.0 at #{old}): " \
                        "install it with rustup (https://rustup.rs) and install the gem again\n")
      expect(makefile).to be_nil
    end

    it "uses rustup's newer cargo from ~/.cargo/bin when there is one" do
      old = fake(File.join(@dir, "old"), "cargo", "cargo 1.63.0")
      home = File.join(@dir, "rustup-home")
      rustup_bin = File.join(home, ".cargo", "bin")
      fake(rustup_bin, "cargo", "cargo 1.95.0 (f2d3ce0bd 2026-03-21)")
      fake(rustup_bin, "rustc", "rustc 1.95.0 (59807616e 2026-04-14)")
      env = env_with(path: "#{File.dirname(old)}:#{tools_dir}", home:)

      _out, err, status = setup_check(env)
      expect([err, status.exitstatus]).to eq(["", 0])
      out, err, status, makefile = extconf(env)
      expect([err, status.exitstatus]).to eq(["", 0])
      expect(out).to include("cargo 1.95.0 (#{rustup_bin}/cargo)")
      expect(makefile).to include("CARGO = #{rustup_bin}/cargo")
      expect(makefile).to include("export PATH := #{rustup_bin}:#{File.dirname(old)}:")
    end
  end

  context "with a new cargo but an old rustc" do
    it "names rustc in both checks" do
      bin = File.join(@dir, "mixed")
      fake(bin, "cargo", "cargo 1.95.0 (f2d3ce0bd 2026-03-21)")
      rustc = fake(bin, "rustc", "rustc 1.63.0")
      env = env_with(path: "#{bin}:#{tools_dir}")
      _out, err, status = setup_check(env)
      expect(status.exitstatus).to eq(1)
      expect(err).to start_with("bin/setup: Ferrokiq needs Rust #{need} or newer (found rustc 1.63.0 at #{rustc}): ")
      _out, err, status, makefile = extconf(env)
      expect(status.exitstatus).to eq(1)
      expect(err).to start_with("Ferrokiq needs Rust #{need} or newer (found rustc 1.63.0 at #{rustc}): ")
      expect(makefile).to be_nil
    end
  end

  context "with no cargo at all" do
    it "bin/setup says in one line what to install" do
      env = env_with(path: tools_dir)
      _out, err, status = setup_check(env)
      expect(status.exitstatus).to eq(1)
      expect(err).to eq("bin/setup: Ferrokiq needs Rust #{need} or newer (no cargo on PATH or in " \
                        "#{env["HOME"]}/.cargo/bin): install it with rustup (https://rustup.rs) " \
                        "and run bin/setup again\n")
    end

    it "extconf.rb says the same instead of a bare `cargo: not found`" do
      env = env_with(path: tools_dir)
      _out, err, status, makefile = extconf(env)
      expect(status.exitstatus).to eq(1)
      expect(err).to eq("Ferrokiq needs Rust #{need} or newer (no cargo on PATH or in #{env["HOME"]}/.cargo/bin): " \
                        "install it with rustup (https://rustup.rs) and install the gem again\n")
      expect(makefile).to be_nil
    end
  end

  context "with cargo only in ~/.cargo/bin (not on PATH, as under sudo)" do
    it "both checks find it, and the Makefile runs it with its rustc" do
      home = File.join(@dir, "rustup-home")
      rustup_bin = File.join(home, ".cargo", "bin")
      fake(rustup_bin, "cargo", "cargo 1.95.0 (f2d3ce0bd 2026-03-21)")
      fake(rustup_bin, "rustc", "rustc 1.95.0 (59807616e 2026-04-14)")
      env = env_with(path: tools_dir, home:)

      _out, err, status = setup_check(env)
      expect([err, status.exitstatus]).to eq(["", 0])
      out, err, status, makefile = extconf(env)
      expect([err, status.exitstatus]).to eq(["", 0])
      expect(out).to eq("Building with cargo 1.95.0 (#{rustup_bin}/cargo) and rustc 1.95.0 (#{rustup_bin}/rustc)\n")
      expect(makefile).to include("CARGO = #{rustup_bin}/cargo")
      expect(makefile).to include("export PATH := #{rustup_bin}:#{env["PATH"]}\n")
      expect(makefile).to include("--profile gem ")
      # The one place the library goes: the gem's (here the checkout's) lib/ferrokiq/.
      expect(makefile).to include("LIBDIR = #{root}/lib/ferrokiq\n")
    end
  end

  it "leaves the library where `require \"ferrokiq\"` finds it in a checkout (what rake compile builds)" do
    expect($LOADED_FEATURES).to include(File.join(root, "lib", "ferrokiq", "ferrokiq.#{RbConfig::CONFIG["DLEXT"]}"))
  end

  it "passes the toolchain this machine builds with" do
    _out, err, status = Open3.capture3(File.join(root, "bin", "setup"), "check-rust")
    expect([err, status.exitstatus]).to eq(["", 0])
  end
end
