# frozen_string_literal: true

require_relative "../support/rails_app"

# Sidekiq.transactional_push! in examples/rails_app, with its SQLite database: a job pushed in a
# transaction reaches Redis at commit, never on rollback, and savepoints behave as Active Record's
# own after_commit callbacks do.
RSpec.describe "Sidekiq.transactional_push!" do
  before(:context) do
    @app = RailsApp.example("rails_app")
    @app.sh(RbConfig.ruby, "bin/rails", "db:schema:load")
  end
  after(:context) { @app&.destroy }

  # Runs +body+ inside the booted app; returns what it printed as JSON.
  def in_app(body)
    JSON.parse(@app.run(<<~RUBY))
      Sidekiq.transactional_push!
      def queued = Sidekiq::Queue.new("default").map(&:jid)
      #{body}
    RUBY
  end

  it "pushes at commit, returning the jid at once, and leaves client_class out of the payload" do
    result = in_app(<<~RUBY)
      inside = nil
      jid = ActiveRecord::Base.transaction do
        AuditEntry.create!(event: "tx", jid: "pending")
        AuditJob.perform_async("tx").tap { inside = queued }
      end
      puts JSON.generate(jid:, inside:, after: queued, keys: Sidekiq::Queue.new("default").first.item.keys)
    RUBY
    expect(result["inside"]).to eq([])
    expect(result["after"]).to eq([result["jid"]])
    expect(result["jid"]).to match(/\A\h{24}\z/)
    expect(result["keys"]).not_to include("client_class")
  end

  it "drops the push when the transaction rolls back, and pushes at once outside a transaction" do
    result = in_app(<<~RUBY)
      ActiveRecord::Base.transaction do
        AuditJob.perform_async("rolled back")
        raise ActiveRecord::Rollback
      end
      dropped = queued
      outside = AuditJob.perform_async("no transaction")
      puts JSON.generate(dropped:, outside:, after: queued)
    RUBY
    expect(result["dropped"]).to eq([])
    expect(result["after"]).to eq([result["outside"]])
  end

  it "follows savepoints: a rolled-back one drops its pushes, a released one waits for the outer commit" do
    result = in_app(<<~RUBY)
      kept = nil
      dropped = nil
      ActiveRecord::Base.transaction do
        ActiveRecord::Base.transaction(requires_new: true) do
          dropped = AuditJob.perform_async("inner, rolled back")
          raise ActiveRecord::Rollback
        end
        ActiveRecord::Base.transaction(requires_new: true) { kept = AuditJob.perform_async("inner, released") }
        raise "pushed before the outer commit" unless queued.empty?
      end
      lost_with_outer = nil
      ActiveRecord::Base.transaction do
        ActiveRecord::Base.transaction(requires_new: true) { lost_with_outer = AuditJob.perform_async("outer rolls back") }
        raise ActiveRecord::Rollback
      end
      puts JSON.generate(kept:, dropped:, lost_with_outer:, after: queued)
    RUBY
    expect(result["after"]).to eq([result["kept"]])
  end

  it "does not defer push_bulk, as Sidekiq does not" do
    result = in_app(<<~RUBY)
      inside = nil
      ActiveRecord::Base.transaction do
        Sidekiq::Client.new.push_bulk("class" => "AuditJob", "args" => [["a"], ["b"]])
        inside = queued.size
        raise ActiveRecord::Rollback
      end
      puts JSON.generate(inside:)
    RUBY
    expect(result["inside"]).to eq(2)
  end
end
