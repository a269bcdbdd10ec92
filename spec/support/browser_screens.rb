# frozen_string_literal: true

require "fileutils"
require_relative "browser_png"

# Screenshots of the UI's pages (tmp/screenshots/<name>.png, for people to look at after a run)
# and the colour scheme the page sees, emulated through the DevTools protocol rather than taken
# from the machine's settings.
module BrowserScreens
  DIR = File.expand_path("../../tmp/screenshots", __dir__)

  # A screenshot that is one colour: the page did not render.
  class Blank < StandardError; end

  module_function

  # "dark", "light", or "" for no preference.
  def colour_scheme(chromium, scheme)
    chromium.execute_cdp("Emulation.setEmulatedMedia", features: [{ name: "prefers-color-scheme", value: scheme }])
  end

  # Saves the window as <name>.png; raises when the picture is a single colour.
  def save(session, name)
    FileUtils.mkdir_p(DIR)
    path = File.join(DIR, "#{name}.png")
    session.save_screenshot(path)
    raise Blank, "#{path} is a single colour" unless BrowserPng.several_colours?(path)

    path
  end

  # <name>-light.png and <name>-dark.png of the page now open; the scheme is unset afterwards.
  def save_light_and_dark(session, chromium, name)
    colour_scheme(chromium, "light")
    light = save(session, "#{name}-light")
    colour_scheme(chromium, "dark")
    [light, save(session, "#{name}-dark")]
  ensure
    colour_scheme(chromium, "")
  end
end
