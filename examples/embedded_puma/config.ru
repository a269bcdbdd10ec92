# frozen_string_literal: true

require_relative "app/greeting_job"

# POST /greetings?name=... enqueues a GreetingJob; GET / lists the greetings the jobs wrote.
class GreetingsApp
  def call(env)
    request = Rack::Request.new(env)
    case [request.request_method, request.path_info]
    in ["POST", "/greetings"]
      jid = GreetingJob.perform_async(request.params.fetch("name", "world"))
      [202, { "content-type" => "text/plain" }, ["enqueued #{jid}\n"]]
    in ["GET", "/"]
      greetings = Sidekiq.redis { |conn| conn.call("LRANGE", "greetings", 0, -1) }
      [200, { "content-type" => "text/plain" }, greetings.map { |line| "#{line}\n" }]
    else
      [404, { "content-type" => "text/plain" }, ["not found\n"]]
    end
  end
end

run GreetingsApp.new
