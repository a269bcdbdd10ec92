// Ferrokiq Web UI behaviour: confirmations, argument expanders, live totals on the dashboard.
(function () {
  "use strict";

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

  function formatNumber(value) {
    return Number(value).toLocaleString();
  }

  function startLiveTotals(box) {
    var select = box.querySelector("[data-interval]");
    var status = box.querySelector("[data-live-status]");
    var url = box.getAttribute("data-stats-url");
    var timer = null;
    var saved = window.localStorage.getItem("ferrokiqInterval");
    if (saved && select.querySelector('option[value="' + saved + '"]')) { select.value = saved; }

    function refresh() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          var totals = data.sidekiq;
          var map = { processed: totals.processed, failed: totals.failed, busy: totals.busy,
                      enqueued: totals.enqueued, retries: totals.retries, scheduled: totals.scheduled,
                      dead: totals.dead };
          Object.keys(map).forEach(function (key) {
            var el = document.querySelector('[data-stat="' + key + '"]');
            if (el) { el.textContent = formatNumber(map[key]); }
          });
          Object.keys(data.redis).forEach(function (key) {
            var el = document.querySelector('[data-redis="' + key + '"]');
            if (el) { el.textContent = data.redis[key]; }
          });
          var clock = document.getElementById("fk-server-time");
          if (clock) { clock.textContent = data.server_utc_time; }
          if (status) { status.textContent = data.server_utc_time; }
        })
        .catch(function () { /* the next tick tries again */ });
    }

    function schedule() {
      if (timer) { window.clearInterval(timer); timer = null; }
      var seconds = Math.max(Number(select.value) || 0, 0);
      window.localStorage.setItem("ferrokiqInterval", String(seconds));
      if (seconds >= 2) { timer = window.setInterval(refresh, seconds * 1000); }
    }

    select.addEventListener("change", schedule);
    schedule();
  }

  document.addEventListener("click", onClick);
  document.addEventListener("click", onCheck);
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-stats-url]");
    if (box) { startLiveTotals(box); }
  });
})();
