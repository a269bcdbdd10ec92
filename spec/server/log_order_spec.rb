# frozen_string_literal: true

require "sidekiq/api"

# Every line a server writes to standard output (the core's job lines, the logger's lines from
# jobs and middleware, a job's own `puts`) comes out in the order it was written, whether
# standard output is a file or a pipe.
RSpec.describe "Log line order" do
  JOBS_WITH_LOGGING = <<~'RUBY'
    class OrderMiddleware
      def call(_job, msg, _queue)
        Sidekiq.logger.info("before #{msg["args"].first}")
        yield
        Sidekiq.logger.info("after #{msg["args"].first}")
      end
    end

    Sidekiq.configure_server do |config|
      config.server_middleware { |chain| chain.add(OrderMiddleware) }
    end

    class LoggingJob
      include Sidekiq::Job
      def perform(index)
        logger.info("inside #{index}")
        puts "puts #{index} tid=#{Sidekiq.tid}"
      end
    end
  RUBY

  COUNT = 300
  # What each job's thread must show, in this order.
  STEPS = %w[start before inside puts after done].freeze

  before do
    stub_const("LoggingJob", Class.new { include Sidekiq::Job })
    LoggingJob.perform_bulk((1..COUNT).map { |i| [i] })
  end

  # tid => [[step, index], ...] in the order the lines appear.
  def steps_by_thread(output)
    jids = {}
    output.each_line.with_object(Hash.new { |h, k| h[k] = [] }) do |line, threads|
      tid = line[/tid=(\w+)/, 1] or next
      jid = line[/jid=(\w+)/, 1]
      step, index = case line
                    when /INFO: (start|done)$/ then [Regexp.last_match(1), jids[jid]]
                    when /INFO: (before|inside|after) (\d+)$/, /^(puts) (\d+) / then [Regexp.last_match(1), Regexp.last_match(2).to_i]
                    else next
                    end
      jids[jid] ||= index if jid && index
      threads[tid] << [step, index]
    end
  end

  def expect_in_order(output)
    threads = steps_by_thread(output)
    seen = threads.values.flatten(1).count { |step, _| step == "inside" }
    expect(seen).to eq(COUNT)
    threads.each_value do |steps|
      steps.each_slice(STEPS.size) do |job_steps|
        expect(job_steps.map(&:first)).to eq(STEPS)
        indexes = job_steps.map(&:last).compact.uniq
        expect(indexes.size).to eq(1), "one job's lines mixed with another's: #{job_steps.inspect}"
      end
    end
  end

  it "keeps each thread's lines in order when standard output is a file" do
    server = start_server(jobs: JOBS_WITH_LOGGING, args: %w[-c 5]).wait_until_running
    eventually { server.log.scan(/INFO: done$/).size == COUNT }
    expect(server.stop).to be_success
    expect_in_order(server.log)
  end

  it "keeps each thread's lines in order when standard output is a pipe" do
    dir = Dir.mktmpdir("ferrokiq-log-order")
    File.write(File.join(dir, "jobs.rb"), JOBS_WITH_LOGGING)
    reader, writer = IO.pipe
    pid = Process.spawn({ "REDIS_URL" => REDIS.url, "RUBYOPT" => nil }, RbConfig.ruby, ServerProcess::EXE,
                        "-r", "./jobs.rb", "-c", "5", chdir: dir, out: writer, err: writer)
    writer.close
    output = +""
    collector = Thread.new { output << reader.read }
    # The output arrives when the server exits: wait until every job was taken and finished.
    eventually { Sidekiq::Queue.new.size.zero? && Sidekiq::InFlightSet.new.size.zero? }
  ensure
    if pid
      Process.kill("TERM", pid)
      Process.wait(pid)
      collector.join(10)
      expect_in_order(output)
    end
    FileUtils.rm_rf(dir) if dir
  end
end
