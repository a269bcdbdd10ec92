# frozen_string_literal: true

require "tmpdir"
require "yaml"
require_relative "../spec_helper"
require_relative "../support/web_helpers"

# rubocop:disable Style/FormatStringToken -- %{name} is the locale files' placeholder syntax

# Languages: the shipped translations, the choice by Accept-Language or by the footer's picker
# (POST /change_locale, kept in the session), right-to-left pages and the fallbacks of `t`.
RSpec.describe "Sidekiq::Web languages", :web do
  locale_dir = Sidekiq::Web::LOCALES
  english = YAML.safe_load_file(File.join(locale_dir, "en.yml")).fetch("en")

  def variables(text)
    text.scan(/%\{\w+\}/).sort
  end

  %w[de fr es ar].each do |lang|
    it "translates every English text into #{lang}, with the same %{variables}" do
      texts = YAML.safe_load_file(File.join(locale_dir, "#{lang}.yml")).fetch(lang)
      expect(english.keys - texts.keys).to eq([]), "#{lang}.yml lacks #{(english.keys - texts.keys).inspect}"
      expect(texts.keys - english.keys).to eq([])
      mismatched = texts.reject { |key, text| variables(text) == variables(english[key]) }
      expect(mismatched.keys).to eq([])
      expect(texts.values).to all(be_a(String).and(satisfy { |text| !text.strip.empty? }))
      expect(texts["LanguageName"]).not_to eq(english["LanguageName"])
    end
  end

  it "picks the language from Accept-Language, by quality and by prefix" do
    get "/sidekiq/", {}, "HTTP_ACCEPT_LANGUAGE" => "xx, fr-CH;q=0.9, de;q=0.95"
    expect(last_response.headers["Content-Language"]).to eq("de")
    expect(last_response.body).to include('<html lang="de" dir="ltr">', ">Übersicht<")
    get "/sidekiq/", {}, "HTTP_ACCEPT_LANGUAGE" => "fr-CH"
    expect(last_response.body).to include('<html lang="fr" dir="ltr">', ">Tableau de bord<")
    get "/sidekiq/", {}, "HTTP_ACCEPT_LANGUAGE" => "xx-YY"
    expect(last_response.body).to include('<html lang="en" dir="ltr">')
  end

  it "renders right-to-left languages with dir=rtl" do
    get "/sidekiq/retries", {}, "HTTP_ACCEPT_LANGUAGE" => "ar"
    expect(last_response.body).to include('<html lang="ar" dir="rtl">', ">لوحة المتابعة<")
  end

  it "offers every language in a footer form with the CSRF field and a submit button" do
    get "/sidekiq/queues", {}, "HTTP_ACCEPT_LANGUAGE" => "es"
    form = last_response.body[%r{<form id="locale-form".*?</form>}m]
    expect(form).to start_with('<form id="locale-form" class="fk-locale" method="post" ' \
                               'action="/sidekiq/change_locale">')
    expect(form).to include('name="authenticity_token"', '<label for="locale">Idioma</label>',
                            '<select id="locale" name="locale">', '<button type="submit"')
    options = form.scan(/<option value="([^"]+)" lang="\1"( selected)?>([^<]+)</)
    expect(options.map(&:first)).to include("ar", "de", "en", "es", "fr")
    expect(options.select { |option| option[1] }.map(&:first)).to eq(["es"])
    expect(options.to_h { |lang, _, name| [lang, name] }).to include("de" => "Deutsch", "ar" => "العربية")
  end

  it "leaves the picker out in read-only mode, where every POST is refused" do
    Sidekiq::Web.read_only = true
    get "/sidekiq/queues"
    expect(last_response.body).not_to include("locale-form")
  end

  describe "POST /change_locale" do
    it "keeps the choice in the session and goes back to the page it came from" do
      post_form "/sidekiq/change_locale", { "locale" => "ar" },
                headers: { "HTTP_REFERER" => "http://example.org/sidekiq/retries?page=2&substr=x" }
      expect(last_response.status).to eq(302)
      expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/retries?page=2&substr=x")
      get "/sidekiq/queues", {}, "HTTP_ACCEPT_LANGUAGE" => "de"
      expect(last_response.body).to include('<html lang="ar" dir="rtl">')
      expect(last_response.headers["Content-Language"]).to eq("ar")
    end

    it "goes to the dashboard when the Referer is missing, another site or outside the UI" do
      ["", "http://evil.example/sidekiq/queues", "http://example.org:8080/sidekiq/queues",
       "http://example.org/admin", "http://example.org/sidekiqx/queues", "not a uri ::"].each do |referer|
        post_form "/sidekiq/change_locale", { "locale" => "fr" }, headers: { "HTTP_REFERER" => referer }
        expect(last_response.status).to eq(302)
        expect(last_response.headers["Location"]).to eq("http://example.org/sidekiq/"), "Referer #{referer.inspect}"
      end
      get "/sidekiq/"
      expect(last_response.body).to include('<html lang="fr"')
    end

    it "ignores a language it does not have" do
      post_form "/sidekiq/change_locale", { "locale" => "de" }
      post_form "/sidekiq/change_locale", { "locale" => "../../etc" }
      expect(last_response.status).to eq(302)
      get "/sidekiq/"
      expect(last_response.body).to include('<html lang="de"')
    end

    it "refuses a POST without the session's token" do
      post "/sidekiq/change_locale", "locale" => "de"
      expect(last_response.status).to eq(403)
      get "/sidekiq/"
      expect(last_response.body).to include('<html lang="en"')
    end
  end

  describe "t" do
    around do |example|
      Dir.mktmpdir do |dir|
        File.write(File.join(dir, "en.yml"), { "en" => { "OnlyInEnglish" => "English words" } }.to_yaml)
        File.write(File.join(dir, "de.yml"), { "de" => { "Other" => "Andere" } }.to_yaml)
        Sidekiq::Web.locales << dir
        example.run
      ensure
        Sidekiq::Web.locales.delete(dir)
      end
    end

    def action(accept_language)
      Sidekiq::WebAction.new({ "rack.session" => {}, "HTTP_ACCEPT_LANGUAGE" => accept_language }, nil)
    end

    it "falls back to English, then to the key itself" do
      german = action("de")
      expect(german.t("Other")).to eq("Andere")
      expect(german.t("OnlyInEnglish")).to eq("English words")
      expect(german.t("NoSuchText")).to eq("NoSuchText")
      expect(german.t("PageOf", page: 2, pages: 9)).to eq("Seite 2 von 9")
    end
  end
end
# rubocop:enable Style/FormatStringToken
