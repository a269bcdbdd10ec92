# frozen_string_literal: true

require_relative "../support/rails_app"

# `rails generate sidekiq:job`, in a copy of examples/rails_app: the job file and its test, and the
# generated job runs.
RSpec.describe "rails generate sidekiq:job" do
  before(:context) { @app = RailsApp.example("rails_app") }
  after(:context) { @app&.destroy }

  def generate_tests_with(framework)
    @app.write("config/initializers/generators.rb", "Rails.application.config.generators.test_framework #{framework}\n")
  end

  it "writes app/sidekiq/<name>_job.rb and a test, dropping a trailing Job from the name" do
    generate_tests_with(":test_unit")
    out = @app.sh(RbConfig.ruby, "-I", RailsApp::LIB, "bin/rails", "generate", "sidekiq:job", "Billing::InvoiceJob")
    expect(out).to include("create  app/sidekiq/billing/invoice_job.rb", "create  test/sidekiq/billing/invoice_job_test.rb")
    expect(@app.read("app/sidekiq/billing/invoice_job.rb")).to include("class Billing::InvoiceJob\n  include Sidekiq::Job")
    expect(@app.read("test/sidekiq/billing/invoice_job_test.rb")).to include("class Billing::InvoiceJobTest")

    ran = @app.run(<<~RUBY)
      require "sidekiq/testing"
      Sidekiq::Testing.fake! { Billing::InvoiceJob.perform_async("x"); puts Billing::InvoiceJob.jobs.size }
      Sidekiq::Testing.inline! { Billing::InvoiceJob.perform_async("y") }
      puts Billing::InvoiceJob.ancestors.include?(Sidekiq::Job)
    RUBY
    expect(ran.lines.map(&:chomp)).to eq(%w[1 true])
  end

  it "writes an RSpec spec when the app generates RSpec tests" do
    generate_tests_with(":rspec")
    out = @app.sh(RbConfig.ruby, "-I", RailsApp::LIB, "bin/rails", "generate", "sidekiq:job", "report_mailer")
    expect(out).to include("create  app/sidekiq/report_mailer_job.rb", "create  spec/sidekiq/report_mailer_job_spec.rb")
    expect(@app.read("spec/sidekiq/report_mailer_job_spec.rb")).to include("RSpec.describe ReportMailerJob")
  end
end
