# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/web_helpers"

# The pages Rust computes for large data (the filter's page, the busy jobs' page; docs/web.md
# §5) against the Ruby paths they replace: same entries, same order, same counts.
RSpec.describe "Sidekiq::Web on large data: Rust pages equal the Ruby ones", :web do # rubocop:disable Metrics/BlockLength
  # The entry keys (checkbox values) and the count a job set page shows.
  def shown_entries(path)
    get path
    expect(last_response.status).to eq(200)
    keys = last_response.body.scan(/name="key\[\]" value="([^"]+)"/).flatten.map { |key| CGI.unescapeHTML(key) }
    [keys, last_response.body[%r{<h1>.*?<span class="fk-count">([^<]*)</span>}m, 1]]
  end

  # Which path answers: Rust unless +ruby+ is set; +rust_pages+ counts the pages Rust made.
  let(:path_choice) { { ruby: false, rust_pages: 0 } }

  def by_ruby
    path_choice[:ruby] = true
    yield
  ensure
    path_choice[:ruby] = false
  end

  # Stubs +method+ of +klass+ to answer nil (so that the Ruby path runs) while by_ruby runs.
  def switchable(klass, method)
    allow_any_instance_of(klass).to receive(method).and_wrap_original do |original, *args, **options|
      next if path_choice[:ruby]

      original.call(*args, **options).tap { |page| path_choice[:rust_pages] += 1 if page }
    end
  end

  before do
    switchable(Sidekiq::SortedSet, :scan_page)
    switchable(Sidekiq::WorkSet, :page)
    # Scores shared in threes, so the member's bytes decide the order within a score.
    %w[retry dead].each do |set|
      240.times do |i|
        add_entry(set, 1_700_000_000.0 + (i / 3), "jid" => format("%024x", i * 7919 % 1000),
                                                  "args" => [i % 4 == 0 ? "needle #{i}" : "hay #{i}"])
      end
    end
  end

  { "retries" => "ascending", "morgue" => "descending" }.each do |path, order|
    it "filters #{path} (#{order}) page by page exactly as the Ruby scan does" do
      [25, 7].each do |count|
        (1..(60 / count) + 2).each do |page|
          url = "/sidekiq/#{path}?substr=needle&count=#{count}&page=#{page}"
          fast = shown_entries(url)
          expect(fast).to eq(by_ruby { shown_entries(url) })
          expect(fast.last).to eq("60") unless fast.first.empty?
        end
      end
      expect(path_choice[:rust_pages]).to eq((60 / 25) + 2 + (60 / 7) + 2)
      keys, = shown_entries("/sidekiq/#{path}?substr=needle&count=100")
      expect(keys.size).to eq(60)
      scores = keys.map { |key| Float(key.split("-").first) }
      expect(scores).to eq(order == "ascending" ? scores.sort : scores.sort.reverse)
    end
  end

  it "filters with a glob as the Ruby scan does" do
    url = "/sidekiq/retries?substr=#{CGI.escape("*needle 1*")}&count=10&page=2"
    fast = shown_entries(url)
    expect(fast.first).not_to be_empty
    expect(fast).to eq(by_ruby { shown_entries(url) })
    expect(path_choice[:rust_pages]).to eq(1)
  end

  describe "/busy" do # rubocop:disable Metrics/BlockLength
    def running_rows(path)
      get path
      expect(last_response.status).to eq(200)
      body = last_response.body[/id="fk-jobs-title".*/m]
      [body[/<span class="fk-count">(\d+)</, 1], body.scan(%r{<td><code>([0-9a-f]{24})</code></td>}).flatten]
    end

    before do
      # Three processes of 12 busy threads, run_at interleaved between them; one Sidekiq 6.4
      # process writing only `<identity>:workers`.
      3.times do |p|
        add_process("host#{p}:#{p}:abc", { "hostname" => "host#{p}", "concurrency" => 12 }, busy: 12)
        redis("HSET", "host#{p}:#{p}:abc:work", *work_times(p))
      end
      redis("RENAME", "host2:2:abc:work", "host2:2:abc:workers")
    end

    # Spreads the threads' run_at so that the order is fixed: thread t of process p started at
    # 1000 + t * 3 + p.
    def work_times(process)
      Array.new(12) do |t|
        job = { "class" => "Job", "args" => [], "jid" => format("%024x", (process * 100) + t) }
        ["t#{t}", Sidekiq.dump_json("queue" => "default", "payload" => Sidekiq.dump_json(job),
                                    "run_at" => 1_000 + (t * 3) + process)]
      end
    end

    it "pages the running jobs exactly as the Ruby path does, longest-running first" do
      all = running_rows("/sidekiq/busy?count=100")
      expect(all.first).to eq("36")
      expect(all.last.first(4)).to eq([format("%024x", 0), format("%024x", 100), format("%024x", 200),
                                       format("%024x", 1)])
      [[1, 10], [2, 10], [4, 10], [3, 12]].each do |page, count|
        path = "/sidekiq/busy?page=#{page}&count=#{count}"
        fast = running_rows(path)
        expect(by_ruby { running_rows(path) }).to eq(fast)
        expect(fast.last).to eq(all.last[((page - 1) * count), count] || [])
      end
      expect(path_choice[:rust_pages]).to eq(5)
    end
  end
end
