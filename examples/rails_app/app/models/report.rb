# frozen_string_literal: true

# Written by GenerateReportJob (Active Job).
class Report < ApplicationRecord
  validates :title, :job_id, presence: true
end
