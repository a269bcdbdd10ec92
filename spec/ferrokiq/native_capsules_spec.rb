# frozen_string_literal: true

require "securerandom"
require "socket"

# The engine binding with capsules: the `capsules` option as the launcher passes it, and
# next_job_for handing each capsule's threads only their own queues' jobs. Tagged :native, so
# the GC.stress pass (docs/design.md, §14) runs it too.
RSpec.describe "Ferrokiq::Native::Engine with capsules", :native do # rubocop:disable Metrics/BlockLength
  let(:identity) { "#{Socket.gethostname}:#{Process.pid}:#{SecureRandom.hex(6)}" }

  after { @engine&.stop }

  def start_engine
    options = {
      "identity" => identity, "hostname" => Socket.gethostname, "tag" => "", "labels" => [],
      "concurrency" => 2, "queues" => [["default", 0]], "fetch" => "reliable", "version" => Sidekiq::VERSION,
      "dead_max_jobs" => 10, "dead_timeout" => 60.0, "stranded_after" => 60.0, "scheduler_defaults" => nil,
      "capsules" => [["single", 1, [["serial", 0]]]]
    }
    @engine = Ferrokiq::Native::Engine.new(Sidekiq.default_configuration.redis_pool.native, options)
  end

  it "numbers the capsules default first and gives each lane only its capsule's jobs" do
    Sidekiq.redis do |conn|
      conn.lpush("queue:serial", '{"class":"S","args":[]}')
      conn.lpush("queue:default", '{"class":"D","args":[]}')
    end
    engine = start_engine
    expect(engine.capsules).to eq(%w[default single])
    serial = eventually { engine.next_job_for(1, 0.2) }
    expect(serial).to eq(["serial", '{"class":"S","args":[]}'])
    expect(eventually { engine.next_job(0.2) }).to eq(["default", '{"class":"D","args":[]}'])
    expect(engine.next_job_for(1, 0.1)).to be_nil
    expect(engine.next_job_for(5, 0.1)).to be(false) # no such capsule: nothing to work on
    engine.acknowledge(*serial)
    engine.quiet
    expect(engine.next_job_for(1, 0.1)).to be(false)
  end
end
