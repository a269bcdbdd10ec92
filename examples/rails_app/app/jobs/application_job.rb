# frozen_string_literal: true

# The app's Active Job base class.
class ApplicationJob < ActiveJob::Base
end
