# frozen_string_literal: true

module Ferrokiq
  VERSION = "0.1.0"
end
