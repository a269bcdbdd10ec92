# frozen_string_literal: true

# Loaded by `bin/rails db:schema:load`, which (re)creates both tables, empty. Not by db:prepare:
# Rails 6.1 opens a missing SQLite file as a new empty database, so db:prepare finds no migrations
# to run and creates no tables.
ActiveRecord::Schema.define(version: 1) do
  create_table :reports, force: :cascade do |t|
    t.string :title, null: false
    t.string :job_id, null: false
    t.string :provider_job_id
    t.timestamps
  end

  create_table :audit_entries, force: :cascade do |t|
    t.string :event, null: false
    t.string :jid, null: false
    # The request that enqueued the job (Current.request_id), when there was one.
    t.string :request_id
    t.timestamps
  end
end
