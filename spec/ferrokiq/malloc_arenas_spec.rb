# frozen_string_literal: true

require "ferrokiq/malloc_arenas"

# The `sidekiq` command limits glibc's malloc arenas (docs/performance.md, §8) unless the app
# chose its own limit.
RSpec.describe Ferrokiq::MallocArenas do
  it "sets glibc's arena limit" do
    expect(described_class.limit!({})).to be(true)
  end

  it "leaves an explicit MALLOC_ARENA_MAX alone" do
    allow(Ferrokiq::Native).to receive(:limit_malloc_arenas)
    expect(described_class.limit!("MALLOC_ARENA_MAX" => "4")).to be(false)
    expect(Ferrokiq::Native).not_to have_received(:limit_malloc_arenas)
  end
end
