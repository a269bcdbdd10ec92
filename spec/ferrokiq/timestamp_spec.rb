# frozen_string_literal: true

require "ferrokiq/timestamp"

RSpec.describe Ferrokiq::Timestamp do
  it "reads Float seconds and Integer milliseconds" do
    expect(described_class.seconds(1_700_000_000.5)).to eq(1_700_000_000.5)
    expect(described_class.seconds(1_700_000_000_500)).to eq(1_700_000_000.5)
    expect(described_class.time(1_700_000_000_001)).to eq(Time.at(1_700_000_000, 1, :millisecond))
  end

  it "reads a small Integer as seconds rather than a date in 1970" do
    expect(described_class.seconds(1_700_000_000)).to eq(1_700_000_000.0)
    expect(described_class.time(1_700_000_000).year).to eq(2023)
  end

  it "has no time for what is not a number" do
    expect([nil, "2024-01-01", {}].map { |value| described_class.time(value) }).to eq([nil, nil, nil])
    expect(described_class.age(nil)).to eq(0.0)
    expect(described_class.age("x")).to eq(0.0)
  end

  it "makes scores from Times and numbers only" do
    expect(described_class.score(Time.at(1_700_000_000, 250, :millisecond))).to eq(1_700_000_000.25)
    expect(described_class.score(12)).to eq(12.0)
    expect(described_class.score(Date.new(2024, 1, 1))).to eq(Time.new(2024, 1, 1).to_f)
    [nil, "12", Float::INFINITY, Object.new].each do |bad|
      expect { described_class.score(bad) }.to raise_error(ArgumentError, /Time or epoch seconds/)
    end
  end
end
