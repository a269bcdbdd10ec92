# frozen_string_literal: true

require "json"

# Ferrokiq::Native.load_job, the processor's payload reader (docs/performance.md, §3.2): for every
# text it reads, the Hash JSON.parse returns, down to classes, encodings, frozen keys, key order
# and the bits of each Float; every other text is left to JSON.parse (nil). Tagged :native, so
# bin/test runs it again under GC.stress.
RSpec.describe "Ferrokiq::Native.load_job", :native do
  # Everything that tells two parses apart.
  def shape(value)
    case value
    when Hash then [:hash, value.map { |key, item| [[key, key.encoding, key.frozen?], shape(item)] }]
    when Array then [:array, value.map { |item| shape(item) }]
    when String then [:string, value.b, value.encoding, value.frozen?]
    when Float then [:float, [value].pack("G")]
    else [value.class, value]
    end
  end

  def expect_parity(text)
    native = Ferrokiq::Native.load_job(text)
    expect(shape(native)).to eq(shape(JSON.parse(text))), "for #{text.inspect}"
  end

  # How many random texts a sweep reads: all of them normally, a tenth under GC.stress, where
  # each allocation collects and the point is only that the reader keeps its values alive
  # (bin/test's GC.stress pass would otherwise spend minutes on these two sweeps alone).
  def sweep(count)
    ENV["FERROKIQ_GC_STRESS"] ? count / 10 : count
  end

  def expect_left_to_ruby(text)
    expect(Ferrokiq::Native.load_job(text)).to be_nil, "for #{text.inspect}"
  end

  it "reads a Sidekiq payload as JSON.parse does" do
    job = { "retry" => 5, "queue" => "default", "class" => "ReceiptJob",
            "args" => [12_345, { "items" => [["sku", 2, 1.5]] }],
            "jid" => "b4a5f3c2d1e0f9a8b7c6d5e4", "created_at" => 1_764_504_000.123456, "tags" => ["a"], "bid" => nil,
            "enqueued_at" => 1_764_504_000.12399, "backtrace" => true, "dead" => false }
    expect_parity(JSON.generate(job))
  end

  it "reads numbers as JSON.parse does" do
    %w[0 -0 7 -7 4611686018427387903 4611686018427387904 -4611686018427387905 999999999999999999
       -999999999999999999 0.0 -0.0 0e5 -0E-3 1.5 -1.5 1e2 1E+2 1.5e-3 2.5E10 0.1 0.30000000000000004
       1764504000.123456 1.7976931348623157e308 2.2250738585072014e-308 12345678901234567
       9007199254740993.0].each do |number|
      expect_parity(%({"n":#{number}}))
    end
  end

  it "reads Floats as Float#to_s writes them, bit for bit" do
    random = Random.new(42)
    sweep(2_000).times do
      float = [random.rand, random.rand * 10**random.rand(-20..20), -random.rand * 1e9,
               random.rand(1e-300..1e300)].sample(random:)
      expect_parity(%({"f":#{float}}))
    end
  end

  it "reads strings as JSON.parse does: escapes, surrogate pairs, raw UTF-8" do
    ["", "plain", "caf\u00e9", "emoji \u{1F600}", "tab\tnew\nline", "quote\" back\\ slash/", "\u0000\u001f",
     "\u2028\u2029", "\u{10FFFF}"].each do |string|
      expect_parity(JSON.generate({ string => string }))
      expect_parity(JSON.generate({ "s" => string }, ascii_only: true))
    end
    expect_parity('{"s":"\/\b\f\n\r\t\u00E9\ud83d\ude00"}')
  end

  it "keeps the first key's place and the last key's value for duplicate keys" do
    expect_parity('{"a":1,"b":2,"a":3}')
    expect_parity('{"a\u0062":1,"ab":2}')
  end

  # The reader stores an object's pairs 16 at a time, so sizes around 8 (Ruby's small-array
  # form) and 16, with duplicates inside one group and across groups, are read here.
  it "reads objects of every size up to 40 keys, duplicates included, as JSON.parse does" do
    41.times do |size|
      pairs = Array.new(size) { |i| %("k#{i}":[#{i},"v#{i}"]) }
      expect_parity("{#{pairs.join(",")}}")
      expect_parity("{#{(pairs + pairs.first(size / 2).map { |pair| pair.sub("[", "[0,") }).join(",")}}")
      expect_parity("{#{(pairs + ['"k0":null']).join(",")}}") if size.positive?
    end
  end

  it "accepts JSON whitespace anywhere between tokens" do
    expect_parity(" \t\r\n{ \"a\" : [ 1 , { } , [ ] , \"x\" ] , \"b\" :null }\n ")
  end

  it "reads generated payloads of every shape as JSON.parse does" do
    random = Random.new(7)
    strings = ["", "x", "caf\u00e9", "\u{1F600}", "a\"b", "c\\d", "\n", "\u0001", "</script>", "\u00ff" * 3]
    leaf = lambda do
      [random.rand(-2**62..2**62), random.rand(-100..100), random.rand * 1000, -random.rand,
       strings.sample(random:), true, false, nil].sample(random:)
    end
    build = lambda do |depth|
      case depth.positive? ? random.rand(4) : 0
      when 0, 1 then leaf.call
      when 2 then Array.new(random.rand(4)) { build.call(depth - 1) }
      else Array.new(random.rand(5)) { [strings.sample(random:) + random.rand(3).to_s, build.call(depth - 1)] }.to_h
      end
    end
    sweep(500).times do
      payload = { "class" => "Job", "args" => Array.new(3) { build.call(5) }, "jid" => random.hex(12) }
      text = JSON.generate(payload)
      expect(Ferrokiq::Native.load_job(text)).not_to be_nil, "for #{text.inspect}"
      expect_parity(text)
    end
  end

  it "leaves to JSON.parse what it does not read itself" do
    ['{"n":12345678901234567890}', '{"f":1e400}', '{"f":1e-400}', '{"f":5e-324}', '{"f":0.12345678901234567891}',
     '{"a":1,}', '{"a":[1,]}', '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":-}', '{"a":NaN}', '{"a":Infinity}',
     '{"a":/* c */1}', '{"a":1}x', '{"a":1', '{"a" 1}', "{a:1}", '{"a":"\x"}', '{"a":"\ud800"}',
     '{"a":"\udc00x"}', "{\"a\":\"raw\ttab\"}", "[1]", '"s"', "42", "", " ", "{\"a\":\"\xff\"}",
     '{"a":tru}'].each do |text|
      expect_left_to_ruby(text)
    end
    expect_left_to_ruby("#{"{\"a\":" * 40}1#{"}" * 40}")
    expect_left_to_ruby('{"a":"b"}'.encode("UTF-16LE"))
    expect_left_to_ruby("{\"a\":\"caf\u00e9\"}".b.force_encoding("US-ASCII"))
    expect_left_to_ruby('{"a":"b"}'.b)
  end

  it "reads US-ASCII text too" do
    expect_parity('{"a":"b"}'.encode("US-ASCII"))
  end
end
