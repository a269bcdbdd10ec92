# frozen_string_literal: true

module Ferrokiq
  # Walks Redis collections for the Data API without holding them whole: SSCAN/ZSCAN cursors, and
  # the jid searches, which the Rust core runs (Ferrokiq::Native::Redis#find_in_sorted_set and
  # #find_in_list). Everything goes through `conn.call`, so a redis-client pool handed to
  # `Sidekiq::Client.via` works too, with the searches then done here in Ruby.
  module Scan
    RUBY_SCAN_COUNT = 100
    RUBY_LIST_PAGE = 100
    SET_SCAN_COUNT = 1_000

    module_function

    # The members of set +key+, each once.
    def set_members(conn, key)
      members = []
      each_page(conn, "SSCAN", key, "COUNT", SET_SCAN_COUNT) { |page| members.concat(page) }
      members.uniq
    end

    # Yields each member of sorted set +key+ matching the glob +match+, with its Float score.
    def sorted_set_pairs(conn, key, match:, count:)
      each_page(conn, "ZSCAN", key, "MATCH", match, "COUNT", count) do |page|
        page.each_slice(2) { |member, score| yield member, Float(score) }
      end
    end

    # [member, score] of the job with +jid+ in sorted set +key+, or nil.
    def find_in_sorted_set(conn, key, jid)
      return conn.native.find_in_sorted_set(key, jid) if conn.respond_to?(:native)

      sorted_set_pairs(conn, key, match: "*#{glob_escape(json_text(jid))}*", count: RUBY_SCAN_COUNT) do |member, score|
        return [member, score] if jid_of(member) == jid
      end
      nil
    end

    # The first entry (from the head) of list +key+ whose jid is +jid+, or nil.
    def find_in_list(conn, key, jid)
      return conn.native.find_in_list(key, jid) if conn.respond_to?(:native)

      text = json_text(jid)
      (0..).step(RUBY_LIST_PAGE) do |start|
        page = conn.call("LRANGE", key, start, start + RUBY_LIST_PAGE - 1)
        found = page.find { |entry| entry.include?(text) && jid_of(entry) == jid }
        return found if found || page.size < RUBY_LIST_PAGE
      end
    end

    def each_page(conn, command, key, *options)
      cursor = "0"
      loop do
        cursor, page = conn.call(command, key, cursor, *options)
        yield page
        break if cursor == "0"
      end
    end

    # The jid as its bytes appear inside a payload written by JSON.generate.
    def json_text(jid)
      JSON.generate(jid.to_s)[1..-2]
    end

    def glob_escape(text)
      text.gsub(/[*?\[\]\\]/) { |char| "\\#{char}" }
    end

    def jid_of(member)
      job = JSON.parse(member)
      job["jid"] if job.is_a?(Hash)
    rescue JSON::ParserError
      nil
    end
  end
end
