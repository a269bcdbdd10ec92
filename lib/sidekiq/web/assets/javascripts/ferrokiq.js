// Ferrokiq Web UI behaviour on every page: confirmations, argument expanders, bulk check boxes,
// relative times, live polling of list pages, the language picker. Shared pieces (texts, number
// format, the refresh interval, summary updates) are on window.Ferrokiq for the page scripts.
(function () {
  "use strict";

  var INTERVAL_KEY = "sidekiqTimeInterval"; // Sidekiq's keys, so a user's settings carry over
  var LIVE_POLL_KEY = "sidekiqLivePoll";
  var DEFAULT_INTERVAL = 5000;
  var MIN_INTERVAL = 2000;
  var MAX_INTERVAL = 20000;
  var STATS = ["processed", "failed", "busy", "enqueued", "retries", "scheduled", "dead"];

  // -- storage (it can be switched off; then settings last for the page only) -------------------

  var memory = {};

  function load(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return memory[key] || null; }
  }

  function store(key, value) {
    memory[key] = value;
    try { window.localStorage.setItem(key, value); } catch (e) { /* kept in memory */ }
  }

  // -- texts and formats ------------------------------------------------------------------------

  var texts = null;

  function text(key, vars) {
    if (!texts && document.body) {
      try { texts = JSON.parse(document.body.getAttribute("data-texts") || "{}"); } catch (e) { texts = {}; }
    }
    var template = texts && Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
    return template.replace(/%\{(\w+)\}/g, function (_, name) {
      return vars && vars[name] !== undefined ? String(vars[name]) : "";
    });
  }

  // The server's number format (1,234,567), so polled numbers look like rendered ones.
  function formatNumber(value) {
    var number = Math.round(Number(value) || 0);
    var digits = String(Math.abs(number)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (number < 0 ? "-" : "") + digits;
  }

  // -- the refresh interval, shared by the dashboard and live polling ---------------------------

  function pollInterval() {
    var saved = parseInt(load(INTERVAL_KEY), 10);
    if (!saved) { return DEFAULT_INTERVAL; }
    return Math.min(Math.max(saved, MIN_INTERVAL), MAX_INTERVAL);
  }

  function setPollInterval(milliseconds) {
    store(INTERVAL_KEY, String(Math.min(Math.max(milliseconds, MIN_INTERVAL), MAX_INTERVAL)));
  }

  // -- summary bar and footer -------------------------------------------------------------------

  function updateSummary(totals) {
    STATS.forEach(function (key) {
      var el = document.querySelector('[data-stat="' + key + '"]');
      if (el && totals[key] !== undefined) { el.textContent = formatNumber(totals[key]); }
    });
  }

  function updateServerTime(value) {
    var clock = document.getElementById("fk-server-time");
    if (clock && value) { clock.textContent = value; }
  }

  // -- relative times: <time datetime="ISO 8601" title="UTC">3 min ago</time> --------------------

  var UNITS = [[60, "Seconds", 1], [3600, "Minutes", 60], [86400, "Hours", 3600], [Infinity, "Days", 86400]];

  function distance(when, now) {
    var delta = (now - when) / 1000;
    var seconds = Math.abs(delta);
    for (var i = 0; i < UNITS.length; i++) {
      if (seconds < UNITS[i][0]) {
        var amount = text(UNITS[i][1], { count: Math.floor(seconds / UNITS[i][2]) });
        return text(delta < 0 ? "TimeFuture" : "TimePast", { amount: amount });
      }
    }
    return "";
  }

  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime][title]").forEach(function (el) {
      var when = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = distance(when, now); }
    });
  }

  // -- clicks: confirmations, argument expanders, check boxes -----------------------------------

  function onClick(event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    var toggle = event.target.closest("[data-toggle-args]");
    if (toggle) {
      var cell = toggle.parentElement;
      var full = cell.querySelector("[data-full]");
      var open = full.hidden;
      full.hidden = !open;
      cell.querySelector("[data-short]").hidden = open;
      toggle.setAttribute("aria-expanded", String(open));
    }
  }

  // "Check all" boxes and shift-click ranges in bulk forms.
  var lastChecked = null;

  function boxesOf(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[type="checkbox"][name="key[]"]'));
  }

  function onCheck(event) {
    var box = event.target;
    var form = box.form;
    if (!form || box.type !== "checkbox") { return; }
    if (box.hasAttribute("data-check-all")) {
      boxesOf(form).forEach(function (other) { other.checked = box.checked; });
      return;
    }
    if (box.name !== "key[]") { return; }
    var boxes = boxesOf(form);
    if (event.shiftKey && lastChecked && boxes.indexOf(lastChecked) >= 0) {
      var from = boxes.indexOf(lastChecked);
      var to = boxes.indexOf(box);
      boxes.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (other) { other.checked = box.checked; });
    }
    lastChecked = box;
  }

  // -- live poll: reload #page and the summary bar from the same URL -----------------------------

  function pollRequested() {
    return new URLSearchParams(window.location.search).get("poll") === "true";
  }

  // A tick would throw away what the user is doing: a focused field or checked boxes.
  function userIsBusy(page) {
    var active = document.activeElement;
    if (active && page.contains(active) && active.matches("input, select, textarea")) { return true; }
    return page.querySelector('input[type="checkbox"]:checked') !== null;
  }

  function startLivePoll(button) {
    var page = document.getElementById("page");
    var timer = null;
    var on = false;

    function replaceFrom(html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var newPage = fresh.getElementById("page");
      if (!newPage) { return; }
      page.innerHTML = newPage.innerHTML;
      var summary = document.getElementById("summary");
      var newSummary = fresh.getElementById("summary");
      if (summary && newSummary) { summary.innerHTML = newSummary.innerHTML; }
      var clock = fresh.getElementById("fk-server-time");
      if (clock) { updateServerTime(clock.textContent); }
      refreshTimes(page);
    }

    function tick() {
      timer = null;
      if (!on) { return; }
      if (userIsBusy(page)) { schedule(); return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          // A redirect means the page is gone (e.g. its entry was retried): keep what is shown.
          if (!response.ok || response.redirected) { return null; }
          return response.text();
        })
        .then(function (html) { if (html && on && !userIsBusy(page)) { replaceFrom(html); } })
        .catch(function () { /* the next tick tries again */ })
        .then(schedule);
    }

    function schedule() {
      if (on && !timer) { timer = window.setTimeout(tick, pollInterval()); }
    }

    function set(enabled) {
      on = enabled;
      button.setAttribute("aria-pressed", String(enabled));
      store(LIVE_POLL_KEY, enabled ? "enabled" : "disabled");
      if (enabled) {
        schedule();
      } else {
        if (timer) { window.clearTimeout(timer); timer = null; }
        if (pollRequested()) {
          var url = new URL(window.location.href);
          url.searchParams.delete("poll");
          window.history.replaceState(window.history.state, "", url.toString());
        }
      }
    }

    button.hidden = false;
    button.addEventListener("click", function () { set(!on); });
    set(pollRequested() || load(LIVE_POLL_KEY) === "enabled");
  }

  // -- the language picker sends itself when a language is picked -------------------------------

  function onLocaleChange(event) {
    if (event.target.id !== "locale" || !event.target.form) { return; }
    var form = event.target.form;
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  // Lets the stylesheet hide what only works with scripts (the charts' boxes, the interval).
  document.documentElement.classList.add("fk-js");

  window.Ferrokiq = {
    text: text,
    formatNumber: formatNumber,
    pollInterval: pollInterval,
    setPollInterval: setPollInterval,
    minInterval: MIN_INTERVAL,
    maxInterval: MAX_INTERVAL,
    updateSummary: updateSummary,
    updateServerTime: updateServerTime,
    refreshTimes: refreshTimes
  };

  document.addEventListener("click", onClick);
  document.addEventListener("click", onCheck);
  document.addEventListener("change", onLocaleChange);
  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes(document);
    window.setInterval(function () { refreshTimes(document); }, 10000);
    var button = document.getElementById("live-poll");
    if (button) { startLivePoll(button); }
  });
})();
