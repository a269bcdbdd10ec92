# frozen_string_literal: true

# The app's controllers' base class (an API: no views, no sessions).
class ApplicationController < ActionController::API
end
