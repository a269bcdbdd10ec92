# frozen_string_literal: true

require "json"
require_relative "../support/rails_app"

# What Sidekiq::Rails sets up, looked at inside a booted Rails 6.1 app (in subprocesses, like
# every Rails spec): the server's reloader and backtrace cleaner, and nothing in a client.
RSpec.describe "Sidekiq::Rails (the Railtie)" do
  before(:context) do
    @app = RailsApp.new({
      "config/application.rb" => <<~RUBY,
        require "rails"
        require "active_job/railtie"
        require "sidekiq"

        module RailtieSpec
          class Application < Rails::Application
            config.load_defaults 6.1
            config.eager_load = false
            config.logger = ActiveSupport::Logger.new(File::NULL)
          end
        end
      RUBY
      "config/environment.rb" => <<~RUBY
        require_relative "application"
        Rails.application.initialize!
      RUBY
    })
  end
  after(:context) { @app&.destroy }

  # Boots the app as a client, or as a server the way the CLI boots one (the CLI, then Rails and
  # the Railtie, then the app), runs +script+ and returns the JSON it prints.
  def boot(script, server:)
    prelude = server ? 'require "sidekiq/cli"; require "rails"; require "sidekiq/rails"' : ""
    out = @app.sh(RbConfig.ruby, "-I", RailsApp::LIB, "-e",
                  "#{prelude}\nrequire File.expand_path('config/environment')\n#{script}")
    JSON.parse(out.lines.last)
  end

  it "gives a server the app's reloader around jobs and Rails' backtrace cleaner" do
    result = boot(<<~RUBY, server: true)
      config = Sidekiq.default_configuration
      reloader = config[:reloader]
      trace = ["\#{Rails.root}/app/jobs/report_job.rb:7:in `perform'",
               "\#{Gem.dir}/gems/somegem-1.0/lib/somegem.rb:3:in `call'"]
      puts JSON.generate(
        "class" => reloader.class.name,
        "result" => reloader.call { Rails.application.executor.active? ? "inside" : "outside" },
        "inspect" => reloader.inspect,
        "as_json" => reloader.as_json,
        "cleaned" => config[:backtrace_cleaner].call(trace)
      )
    RUBY

    expect(result).to eq("class" => "Sidekiq::Rails::Reloader", "result" => "inside",
                         "inspect" => "#<Sidekiq::Rails::Reloader app=RailtieSpec::Application>",
                         "as_json" => { "app" => "RailtieSpec::Application" },
                         "cleaned" => ["app/jobs/report_job.rb:7:in `perform'"])
  end

  it "labels the work `job.sidekiq` only for reloaders that take a source (Rails 7.1+)" do
    result = boot(<<~RUBY, server: true)
      app = Struct.new(:reloader)
      rails71 = Class.new { def self.wrap(**options) = yield(options) }
      rails80 = Class.new { def self.wrap(source: "application.active_support") = yield(source) }
      rails61 = Class.new { def self.wrap = yield("no options") }
      puts JSON.generate([rails71, rails80, rails61].map { |reloader|
        Sidekiq::Rails::Reloader.new(app.new(reloader)).call { |seen| seen }
      })
    RUBY

    expect(result).to eq([{ "source" => "job.sidekiq" }, "job.sidekiq", "no options"])
  end

  it "leaves a client process's reloader and backtrace cleaner alone" do
    result = boot(<<~RUBY, server: false)
      config = Sidekiq.default_configuration
      puts JSON.generate("reloader" => config[:reloader].class.name,
                         "cleaned" => config[:backtrace_cleaner].call(["/somewhere/gems/x.rb:1"]))
    RUBY

    expect(result).to eq("reloader" => "Proc", "cleaned" => ["/somewhere/gems/x.rb:1"])
  end
end
