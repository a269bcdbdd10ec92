# frozen_string_literal: true

# `require "sidekiq/middleware/i18n"`: a job runs in the locale it was pushed in.
RSpec.describe "sidekiq/middleware/i18n" do
  LOCALE_JOBS = <<~RUBY
    require "i18n"
    I18n.available_locales = %i[en de fr]
    require "sidekiq/middleware/i18n"

    class LocaleJob
      include Sidekiq::Job
      def perform(label, push_child = false)
        Sidekiq.redis { |conn| conn.rpush("locales", Sidekiq.dump_json([label, I18n.locale.to_s])) }
        LocaleJob.perform_async("child of \#{label}") if push_child
      end
    end
  RUBY

  it "stores the pushing locale in the job and runs the job, and jobs it pushes, in it" do
    Sidekiq::Client.push("class" => "LocaleJob", "args" => ["de parent", true], "locale" => "de")
    Sidekiq::Client.push("class" => "LocaleJob", "args" => ["no locale"])
    server = start_server(jobs: LOCALE_JOBS, args: %w[-c 1])
    eventually { redis_list("locales").size == 3 }
    expect(redis_json_list("locales")).to contain_exactly(["de parent", "de"], ["child of de parent", "de"],
                                                          ["no locale", "en"])
    expect(server.stop).to be_success
  end

  it "adds the current locale on the client side" do
    script = <<~RUBY
      $LOAD_PATH.unshift(#{File.expand_path("../../lib", __dir__).inspect})
      require "sidekiq"
      require "i18n"
      I18n.available_locales = %i[en fr]
      require "sidekiq/middleware/i18n"
      Sidekiq.configure_client { |config| config.redis = { url: #{REDIS.url.inspect} } }
      I18n.with_locale(:fr) { Sidekiq::Client.push("class" => "LocaleJob", "args" => []) }
    RUBY
    system({ "RUBYOPT" => nil }, RbConfig.ruby, "-e", script, exception: true)
    expect(redis_json_list("queue:default").map { |job| job["locale"] }).to eq(["fr"])
  end
end
