# frozen_string_literal: true

# What the browser's console said: Chromium keeps its messages (asked for with
# `goog:loggingPrefs` browser: ALL) until they are read, so reading them after an example gives
# everything every page of that example logged.
module BrowserConsole
  # An example whose pages logged errors.
  class Problem < StandardError; end

  # CSP violations are logged as errors too; matched by text as well in case a build logs them
  # at a lower level.
  CSP_TEXT = "Content Security Policy"

  module_function

  # The messages logged since the last call (reading them empties the browser's buffer).
  def drain(chromium)
    chromium.logs.get(:browser)
  end

  # The messages that mean a page is broken: script errors, failed loads, CSP violations.
  def problems(entries)
    entries.select { |entry| entry.level == "SEVERE" || entry.message.include?(CSP_TEXT) }
  end

  def report(problems)
    "the browser console reported #{problems.size} problem(s):\n" +
      problems.map { |entry| "  #{entry.level}: #{entry.message}" }.join("\n")
  end
end
