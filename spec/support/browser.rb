# frozen_string_literal: true

require "fileutils"
require "tmpdir"
require "capybara"
require "capybara/dsl"
require "capybara/rspec/matchers"
require "selenium-webdriver"
require "rack/builder"
require "rack/session/cookie"
require "sidekiq/web"
require_relative "web_helpers"
require_relative "browser_console"
require_relative "browser_png"
require_relative "browser_screens"
require_relative "browser_seed"

# The Web UI in a real headless Chromium, for spec/browser/ (examples tagged :browser): one
# browser for the whole run, started on the first visit (so `rspec spec/web` never starts one),
# driven by Capybara against the UI served by WEBrick on 127.0.0.1 (a random free port, in a
# thread of the test process) behind a cookie session, mounted under /sidekiq as a config.ru
# would mount it, over the suite's own redis-server.
module Browser
  PREFIX = "/sidekiq"
  DRIVER = :ferrokiq_chromium
  # Selenium 4.4 predates Selenium Manager: both programs are named explicitly (Debian's paths;
  # bin/setup installs them).
  CHROMIUM = "/usr/bin/chromium"
  CHROMEDRIVER = "/usr/bin/chromedriver"
  WIDTH = 1280
  HEIGHT = 900
  # Headless, nothing the test did not ask for (no sync, updates or background fetches that could
  # log errors of their own), a fixed window so screenshots and layouts compare.
  ARGS = %W[--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking
            --disable-component-update --disable-sync --no-first-run --window-size=#{WIDTH},#{HEIGHT}].freeze
  SESSION_SECRET = "b" * 64
  # Long enough for a poll at the UI's shortest interval (2 s) to come round twice.
  WAIT_SECONDS = 10

  module_function

  # The application the server runs: only the UI, so a page that asks for anything outside it
  # (an icon it does not name, say) gets a 404 that shows in the console.
  def app
    WebHelpers.mounted_ui(prefix: PREFIX, secret: SESSION_SECRET)
  end

  def driver(app)
    profile = Dir.mktmpdir("ferrokiq-chromium")
    # Registered before the driver's own at_exit (which quits the browser), so it runs after it.
    at_exit { FileUtils.rm_rf(profile) }
    options = Selenium::WebDriver::Chrome::Options.new
    options.binary = CHROMIUM
    (ARGS + ["--user-data-dir=#{profile}"]).each { |arg| options.add_argument(arg) }
    # Console messages (errors, CSP violations) for BrowserConsole.
    options.logging_prefs = { browser: "ALL" }
    service = Selenium::WebDriver::Service.chrome(path: CHROMEDRIVER)
    Capybara::Selenium::Driver.new(app, browser: :chrome, options:, service:)
  end

  # The Chromium behind Capybara (for CDP calls, logs and window sizes).
  def chromium
    Capybara.current_session.driver.browser
  end
end

Capybara.register_driver(Browser::DRIVER) { |app| Browser.driver(app) }
Capybara.app = Browser.app
Capybara.server = :webrick
Capybara.server_host = "127.0.0.1"
Capybara.default_max_wait_time = Browser::WAIT_SECONDS
Capybara.save_path = BrowserScreens::DIR

# Helpers for the examples, next to Capybara's finders and matchers and BrowserSeed.
module BrowserExample
  # Prefix +path+ with the mount point: `ui_path("retries")`.
  def ui_path(path = "")
    "#{Browser::PREFIX}/#{path}"
  end

  def visit_ui(path = "")
    visit(ui_path(path))
  end

  # The English text of a locale key, so examples follow the UI's wording rather than copy it.
  def ui_text(key, vars = {})
    text = Sidekiq::Web::Locales.strings([Sidekiq::Web::LOCALES]).fetch("en").fetch(key)
    text.gsub(/%\{(\w+)\}/) { vars.fetch(Regexp.last_match(1).to_sym).to_s }
  end

  # Runs the block (a click that submits a form) and waits until the browser shows the page the
  # server answered with: the current document is marked first, and the mark is gone then.
  def after_page_load
    execute_script("document.documentElement.setAttribute('data-left-behind', '')")
    yield
    expect(page).to have_no_css("html[data-left-behind]")
  end

  # A JavaScript expression's value in the page.
  def js(expression)
    evaluate_script(expression)
  end
end

# One browser session shared by the examples and reset between them; every example fails on what
# the browser's console reported while it ran.
RSpec.configure do |config|
  config.include Capybara::DSL, :browser
  config.include Capybara::RSpecMatchers, :browser
  config.include BrowserExample, :browser
  config.include BrowserSeed, :browser

  config.before(:each, :browser) do
    Capybara.current_driver = Browser::DRIVER
    # What the previous example's reset logged is not this example's.
    BrowserConsole.drain(Browser.chromium)
  end

  config.after(:each, :browser) do
    begin
      problems = BrowserConsole.problems(BrowserConsole.drain(Browser.chromium))
    ensure
      # Cookies, storage, an open dialog: nothing of this example's reaches the next one.
      Capybara.reset_sessions!
      Capybara.use_default_driver
    end
    raise BrowserConsole::Problem, BrowserConsole.report(problems) unless problems.empty?
  end
end
