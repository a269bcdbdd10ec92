# frozen_string_literal: true

require "rails/generators/named_base"

module Sidekiq
  module Generators
    # `rails generate sidekiq:job Name`: app/sidekiq/name_job.rb and its spec (RSpec) or test
    # (Minitest), as Sidekiq's generator lays them out.
    class JobGenerator < ::Rails::Generators::NamedBase
      desc "Creates a Sidekiq job in app/sidekiq and its test"

      check_class_collision suffix: "Job"

      def self.default_generator_root
        __dir__
      end

      def create_job_file
        template "job.rb.erb", File.join("app/sidekiq", class_path, "#{file_name}_job.rb")
      end

      def create_test_file
        case test_framework
        when nil, false then nil
        when :rspec then template "job_spec.rb.erb", File.join("spec/sidekiq", class_path, "#{file_name}_job_spec.rb")
        else template "job_test.rb.erb", File.join("test/sidekiq", class_path, "#{file_name}_job_test.rb")
        end
      end

      private

      # "HardWorkerJob" and "hard_worker" both make HardWorkerJob in hard_worker_job.rb.
      def file_name
        super.sub(/_?job\z/i, "")
      end

      def test_framework
        ::Rails.application.config.generators.options.dig(:rails, :test_framework)
      end
    end
  end
end
