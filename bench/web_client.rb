# frozen_string_literal: true

require "net/http"

# A browser's session with one Web UI for bench/web.rb: one keep-alive connection, the session
# cookie, and the CSRF token scraped from a page for POSTs.
class WebClient
  Timing = Struct.new(:status, :server_ms, :wall_ms, :body)

  def initialize(port)
    @http = Net::HTTP.start("127.0.0.1", port, read_timeout: 900)
    @cookie = nil
  end

  def get(path)
    request(Net::HTTP::Get.new(path))
  end

  # A form POST with a token from +token_page+ (read first, not timed).
  def post(path, token_page:)
    token = token_from(get(token_page).body)
    form = Net::HTTP::Post.new(path)
    form.set_form_data("authenticity_token" => token)
    request(form)
  end

  def close
    @http.finish
  end

  private

  def request(message)
    message["Cookie"] = @cookie if @cookie
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    response = @http.request(message)
    wall = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
    remember_cookie(response)
    Timing.new(response.code.to_i, response["X-Runtime"].to_f * 1000, wall, response.body)
  end

  def remember_cookie(response)
    set = response.get_fields("Set-Cookie")
    @cookie = set.map { |line| line.split(";").first }.join("; ") if set
  end

  def token_from(body)
    body[/name=["']authenticity_token["'] value=["']([^"']+)["']/, 1] or raise "no CSRF token in the page"
  end
end
