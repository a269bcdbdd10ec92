# frozen_string_literal: true

# The plugin gem's own file name, as Bundler.require and apps load it; queue limits are built
# into Ferrokiq (see sidekiq/limit_fetch).
require "sidekiq/limit_fetch"
