# frozen_string_literal: true

require "ferrokiq/paging"

RSpec.describe Ferrokiq::Paging do
  # A stand-in for LRANGE / ZRANGE on +list+: negative indices count from the end, and a window
  # reaching past either end is cut there.
  def range(list, first, last)
    first += list.size if first.negative?
    last += list.size if last.negative?
    first = [first, 0].max
    last = [last, list.size - 1].min
    first > last ? [] : list[first..last]
  end

  # Walks +list+ as Queue#each and JobSet#each do, counting what the block removes through
  # +remove+ (which it is handed with each element).
  def walk(list, from:, page_size: 3, &block)
    removed = 0
    remove = lambda do |element|
      list.delete_at(list.index(element))
      removed += 1
    end
    seen = []
    described_class.each(from:, page_size:, read: ->(first, last) { range(list, first, last) },
                         removed: -> { removed }) do |element|
      seen << element
      block&.call(element, remove)
    end
    seen
  end

  it "walks from the head in stored order, and from the tail last first" do
    expect(walk((1..7).to_a, from: :head)).to eq((1..7).to_a)
    expect(walk((1..7).to_a, from: :tail)).to eq((1..7).to_a.reverse)
    expect(walk((1..6).to_a, from: :tail)).to eq((1..6).to_a.reverse)
    expect(walk([], from: :head)).to eq([])
  end

  it "skips nothing when the block removes what it was shown" do
    %i[head tail].each do |from|
      list = (1..10).to_a
      expect(walk(list, from:) { |element, remove| remove.call(element) if element.odd? }.sort).to eq((1..10).to_a)
      expect(list).to eq([2, 4, 6, 8, 10])
      expect(walk((1..10).to_a, from:) { |element, remove| remove.call(element) }.sort).to eq((1..10).to_a)
    end
  end

  it "starts again from the end rather than skip when others removed more than it passed" do
    list = (1..9).to_a
    seen = []
    described_class.each(from: :head, page_size: 3, read: ->(first, last) { range(list, first, last) },
                         removed: -> { 5 }) { |element| seen << element }
    expect(seen).to eq([1, 2, 3, 1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9])
  end

  it "refuses an end it does not know" do
    expect { described_class.each(from: :middle, page_size: 3, read: ->(*) { [] }, removed: -> { 0 }) }
      .to raise_error(ArgumentError, /from: must be :head or :tail/)
  end
end
