# frozen_string_literal: true

# Loaded by `bin/rails db:prepare` (or db:schema:load).
ActiveRecord::Schema.define(version: 1) do
  create_table :reports do |t|
    t.string :title, null: false
    t.string :job_id, null: false
    t.string :provider_job_id
    t.timestamps
  end

  create_table :audit_entries do |t|
    t.string :event, null: false
    t.string :jid, null: false
    t.timestamps
  end
end
