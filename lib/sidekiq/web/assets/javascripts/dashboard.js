// The dashboard: the realtime chart (jobs processed and failed between two polls of /stats,
// which also refresh the summary bar, the Redis box and the server time) and the history chart
// (the days the server rendered into #history-data).
(function () {
  "use strict";

  var WINDOW = 50; // intervals kept on the realtime chart

  function utcClock(date) {
    return date.toISOString().substring(11, 19);
  }

  function startRealtime(svg) {
    var app = window.Ferrokiq;
    var url = svg.getAttribute("data-stats-url");
    var slider = document.getElementById("poll-interval");
    var shown = document.getElementById("poll-interval-value");
    var pause = document.getElementById("realtime-pause");
    var status = document.getElementById("realtime-status");
    var labels = [];
    var processed = [];
    var failed = [];
    var last = null;
    var timer = null;
    var paused = false;

    function redraw() {
      window.FerrokiqCharts.draw(svg, {
        labels: labels,
        series: [{ key: "processed", name: app.text("Processed"), values: processed },
                 { key: "failed", name: app.text("Failed"), values: failed }]
      });
      svg.setAttribute("data-points", String(labels.length));
    }

    function record(data) {
      var totals = data.sidekiq;
      if (last) {
        // A reset of the counters would give a negative difference: plot it as nothing done.
        labels.push(utcClock(new Date()));
        processed.push(Math.max(totals.processed - last.processed, 0));
        failed.push(Math.max(totals.failed - last.failed, 0));
        if (labels.length > WINDOW) { labels.shift(); processed.shift(); failed.shift(); }
      }
      last = totals;
      redraw();
      app.updateSummary(totals);
      Object.keys(data.redis || {}).forEach(function (key) {
        var el = document.querySelector('[data-redis="' + key + '"]');
        if (el) { el.textContent = data.redis[key]; }
      });
      app.updateServerTime(data.server_utc_time);
      if (status) { status.textContent = app.text("LiveUpdated") + " " + data.server_utc_time; }
    }

    function poll() {
      timer = null;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("stats answered " + response.status); }
          return response.json();
        })
        .then(record)
        .catch(function () { /* the next poll tries again */ })
        .then(schedule);
    }

    function schedule() {
      if (!paused && !timer) { timer = window.setTimeout(poll, app.pollInterval()); }
    }

    function restart() {
      if (timer) { window.clearTimeout(timer); timer = null; }
      schedule();
    }

    function showInterval() {
      var seconds = Math.round(app.pollInterval() / 1000);
      slider.value = String(seconds);
      var words = app.text("Seconds", { count: seconds });
      slider.setAttribute("aria-valuetext", words);
      if (shown) { shown.textContent = words; }
    }

    if (slider) {
      showInterval();
      slider.addEventListener("input", function () {
        app.setPollInterval(Number(slider.value) * 1000);
        showInterval();
      });
      slider.addEventListener("change", restart);
    }
    if (pause) {
      pause.addEventListener("click", function () {
        paused = !paused;
        pause.setAttribute("aria-pressed", String(paused));
        if (paused && timer) { window.clearTimeout(timer); timer = null; }
        schedule();
      });
    }
    window.addEventListener("resize", redraw);
    redraw();
    poll(); // the baseline the first interval is measured from
  }

  function drawHistory(svg) {
    var source = document.getElementById("history-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var options = {
      labels: data.dates,
      series: [{ key: "processed", name: window.Ferrokiq.text("Processed"), values: data.processed },
               { key: "failed", name: window.Ferrokiq.text("Failed"), values: data.failed }]
    };
    var redraw = function () { window.FerrokiqCharts.draw(svg, options); };
    window.addEventListener("resize", redraw);
    redraw();
    svg.setAttribute("data-points", String(data.dates.length));
    // The chart now shows what the table showed; the table stays one click away.
    var numbers = document.getElementById("history-numbers");
    if (numbers) { numbers.open = false; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var history = document.getElementById("history-chart");
    if (history) { drawHistory(history); }
    var realtime = document.getElementById("realtime-chart");
    if (realtime) { startRealtime(realtime); }
  });
})();
