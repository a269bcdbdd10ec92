# frozen_string_literal: true

# Sidekiq.dump_json is written in Rust; it must give JSON.generate's bytes for every value,
# and JSON.generate's errors where JSON.generate refuses.
RSpec.describe "Ferrokiq JSON" do
  def same_as_ruby(value)
    expect(Ferrokiq::Native.dump_json(value)).to eq(JSON.generate(value))
  end

  it "matches JSON.generate for payload-like values", :native do
    [
      nil, true, false, 0, -1, 2**62, 2**64, 1.5, -0.0, 1e16, 1e15, 1.0e-5, 0.0001, 123_456_789.123456789,
      "", "plain", "quote\" back\\slash", "\n\r\t\b\f\u0000\u001f\u007f", "é ✓ 日本 🎉", "</script>",
      [], {}, [1, [2, [3, {}]]], { "a" => { "b" => [nil, 1.0] } },
      { "class" => "HardJob", "args" => [1, "x"], "created_at" => Time.now.to_f }
    ].each { |value| same_as_ruby(value) }
  end

  it "matches JSON.generate on thousands of random floats" do
    rng = Random.new(42)
    floats = Array.new(5000) { (rng.rand - 0.5) * (10**rng.rand(-30..30)) }
    floats += Array.new(2000) { [rng.bytes(8)].pack("a8").unpack1("D") }.select(&:finite?)
    floats += Array.new(1000) { Time.now.to_f + rng.rand(1_000_000) }
    same_as_ruby(floats)
    floats.each_slice(500) { |slice| slice.each { |f| expect(Ferrokiq::Native.dump_json(f)).to eq(f.to_s) } }
  end

  it "matches JSON.generate for values only Ruby knows how to write" do
    time = Time.at(0).utc
    [
      :symbol, { sym: 1 }, { 1 => 2 }, [time], 3r, String.new("binary \xff", encoding: "BINARY").b[0, 6],
      "latin".encode("ISO-8859-1"), Class.new(Hash).new.merge("a" => 1), Class.new(String).new("sub")
    ].each { |value| same_as_ruby(value) }
  end

  it "raises JSON.generate's errors" do
    [Float::NAN, [Float::INFINITY], { "x" => -Float::INFINITY }, "bad \xff utf8"].each do |value|
      expected = (JSON.generate(value) rescue $!) # rubocop:disable Style/RescueModifier
      expect { Ferrokiq::Native.dump_json(value) }.to raise_error(expected.class, expected.message)
    end
  end

  it "defers to Ruby's nesting limit" do
    deep = 101.times.reduce([]) { |inner, _| [inner] }
    expect { Ferrokiq::Native.dump_json(deep) }.to raise_error(JSON::NestingError)
    same_as_ruby(99.times.reduce([]) { |inner, _| [inner] })
  end
end
