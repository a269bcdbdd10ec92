# frozen_string_literal: true

require "json"
require "ferrokiq/version"
require "ferrokiq/errors"
# The native library looks the error classes up, so it loads after them.
require "ferrokiq/ferrokiq"
require "ferrokiq/redis_connection"
require "ferrokiq/redis_pool"
require "ferrokiq/sleeper"

# Ferrokiq: Sidekiq's API with a Rust core. Applications use it through `require "sidekiq"`;
# this module holds what is Ferrokiq's own.
module Ferrokiq
end
