// Ferrokiq Web UI, metrics pages: draws each [data-chart] element's JSON as an SVG chart
// (lines over minutes, bars per duration bucket, or a minutes x buckets heat grid), lets the
// class table's checkboxes choose which series the line chart shows, and submits the period
// choice at once. Plain SVG attributes only: the page's CSP allows no inline styles.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#c2410c", "#2563eb", "#059669", "#9333ea", "#ca8a04", "#db2777", "#0891b2",
                 "#65a30d", "#7c3aed", "#dc2626"];
  var WIDTH = 900;
  var HEIGHT = 280;
  var PAD = { left: 56, right: 16, top: 16, bottom: 40 };

  function color(index) { return PALETTE[index % PALETTE.length]; }

  function node(name, attrs, parent) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { el.setAttribute(key, String(attrs[key])); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function text(parent, x, y, content, attrs) {
    var el = node("text", Object.assign({ x: x, y: y, fill: "currentColor", "font-size": 11 }, attrs || {}), parent);
    el.textContent = content;
    return el;
  }

  function tip(el, content) {
    node("title", {}, el).textContent = content;
  }

  function canvas(box) {
    while (box.firstChild) { box.removeChild(box.firstChild); }
    return node("svg", { viewBox: "0 0 " + WIDTH + " " + HEIGHT, width: "100%", role: "presentation" }, box);
  }

  // A "nice" top for an axis: 1, 2 or 5 times a power of ten, at least max.
  function niceTop(max) {
    if (!(max > 0)) { return 1; }
    var power = Math.pow(10, Math.floor(Math.log10(max)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= max) { return steps[i] * power; }
    }
    return 10 * power;
  }

  function formatValue(value) {
    if (value >= 100 || value === 0) { return Math.round(value).toLocaleString(); }
    return Number(value.toPrecision(3)).toLocaleString();
  }

  // The value axis with four grid lines, and every nth label along the bottom.
  function axes(svg, top, labels, unit, slotWidth, centered) {
    var plotHeight = HEIGHT - PAD.top - PAD.bottom;
    for (var i = 0; i <= 4; i++) {
      var y = PAD.top + plotHeight - (plotHeight * i) / 4;
      node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, stroke: "currentColor",
                     "stroke-opacity": i === 0 ? 0.5 : 0.12 }, svg);
      text(svg, PAD.left - 6, y + 4, formatValue((top * i) / 4), { "text-anchor": "end" });
    }
    text(svg, 4, PAD.top - 4, unit || "");
    var every = Math.max(1, Math.ceil((labels.length * 44) / (WIDTH - PAD.left - PAD.right)));
    labels.forEach(function (label, index) {
      if (index % every !== 0) { return; }
      var x = PAD.left + slotWidth * index + (centered ? slotWidth / 2 : 0);
      text(svg, x, HEIGHT - PAD.bottom + 16, label, { "text-anchor": "middle" });
    });
  }

  // Deploy marks: a dashed vertical line at their minute, the label as its tooltip.
  function marks(svg, data, xOf) {
    (data.marks || []).forEach(function (mark) {
      var index = data.labels.indexOf(mark.at);
      if (index < 0) { return; }
      var x = xOf(index);
      var line = node("line", { x1: x, x2: x, y1: PAD.top, y2: HEIGHT - PAD.bottom, stroke: "currentColor",
                                "stroke-dasharray": "4 3", "stroke-opacity": 0.7 }, svg);
      tip(line, mark.at + " " + mark.label);
      var flag = text(svg, x + 3, PAD.top + 10, "\u25B2");
      tip(flag, mark.at + " " + mark.label);
    });
  }

  function drawLines(box, data) {
    var svg = canvas(box);
    var shown = data.series.filter(function (series) { return series.shown; });
    var max = 0;
    shown.forEach(function (series) { series.values.forEach(function (v) { max = Math.max(max, v); }); });
    var top = niceTop(max);
    var count = Math.max(data.labels.length - 1, 1);
    var slot = (WIDTH - PAD.left - PAD.right) / count;
    var plotHeight = HEIGHT - PAD.top - PAD.bottom;
    var xOf = function (index) { return PAD.left + slot * index; };
    var yOf = function (value) { return PAD.top + plotHeight - (plotHeight * value) / top; };
    axes(svg, top, data.labels, data.unit, slot, false);
    data.series.forEach(function (series, seriesIndex) {
      if (!series.shown) { return; }
      var points = series.values.map(function (v, i) { return xOf(i).toFixed(1) + "," + yOf(v).toFixed(1); });
      var line = node("polyline", { points: points.join(" "), fill: "none", stroke: color(seriesIndex),
                                    "stroke-width": 2, "stroke-linejoin": "round" }, svg);
      tip(line, series.name);
      series.values.forEach(function (v, i) {
        if (v <= 0) { return; }
        var dot = node("circle", { cx: xOf(i), cy: yOf(v), r: 2.5, fill: color(seriesIndex) }, svg);
        tip(dot, series.name + " " + data.labels[i] + ": " + formatValue(v) + " " + (data.unit || ""));
      });
    });
    marks(svg, data, xOf);
  }

  function drawBars(box, data) {
    var svg = canvas(box);
    var top = niceTop(Math.max.apply(null, data.values.concat([0])));
    var slot = (WIDTH - PAD.left - PAD.right) / data.labels.length;
    var plotHeight = HEIGHT - PAD.top - PAD.bottom;
    axes(svg, top, data.labels, data.unit, slot, true);
    data.values.forEach(function (value, index) {
      var height = (plotHeight * value) / top;
      var bar = node("rect", { x: PAD.left + slot * index + 2, y: PAD.top + plotHeight - height,
                               width: Math.max(slot - 4, 1), height: height, fill: color(0) }, svg);
      tip(bar, "< " + data.labels[index] + ": " + formatValue(value) + " " + (data.unit || ""));
    });
  }

  // Minutes across, duration buckets up (fastest at the bottom); darker = more jobs.
  function drawHeat(box, data) {
    var svg = canvas(box);
    var max = 0;
    data.cells.forEach(function (column) { column.forEach(function (v) { max = Math.max(max, v); }); });
    var rows = data.rows.length;
    var slot = (WIDTH - PAD.left - PAD.right) / data.labels.length;
    var rowHeight = (HEIGHT - PAD.top - PAD.bottom) / rows;
    data.rows.forEach(function (label, row) {
      if (row % 5 === 0 || row === rows - 1) {
        text(svg, PAD.left - 6, HEIGHT - PAD.bottom - rowHeight * row - 2, label, { "text-anchor": "end" });
      }
    });
    var every = Math.max(1, Math.ceil((data.labels.length * 44) / (WIDTH - PAD.left - PAD.right)));
    data.labels.forEach(function (label, index) {
      if (index % every === 0) { text(svg, PAD.left + slot * index, HEIGHT - PAD.bottom + 16, label); }
    });
    data.cells.forEach(function (column, index) {
      column.forEach(function (count, row) {
        if (!count) { return; }
        var cell = node("rect", { x: PAD.left + slot * index, y: HEIGHT - PAD.bottom - rowHeight * (row + 1),
                                  width: Math.max(slot, 1), height: rowHeight, fill: color(0),
                                  "fill-opacity": (0.15 + 0.85 * (count / max)).toFixed(2) }, svg);
        tip(cell, data.labels[index] + ", < " + data.rows[row] + ": " + count.toLocaleString());
      });
    });
    marks(svg, data, function (index) { return PAD.left + slot * index; });
  }

  var DRAW = { lines: drawLines, bars: drawBars, heat: drawHeat };

  function draw(box) {
    var data;
    try { data = JSON.parse(box.getAttribute("data-chart")); } catch (e) { return; }
    var fn = DRAW[data.kind];
    if (fn) { fn(box, data); box.chartData = data; }
  }

  function swatches() {
    document.querySelectorAll("[data-swatch]").forEach(function (span) {
      var svg = node("svg", { viewBox: "0 0 10 10", width: 10, height: 10 }, span);
      node("rect", { width: 10, height: 10, rx: 2, fill: color(Number(span.getAttribute("data-swatch"))) }, svg);
    });
  }

  // The class table's checkboxes choose the series of the page's first line chart.
  function toggles() {
    var box = document.querySelector('[data-chart]');
    document.addEventListener("change", function (event) {
      var target = event.target;
      if (target.hasAttribute("data-metrics-autosubmit") && target.form) { target.form.submit(); return; }
      if (!target.hasAttribute("data-series-toggle") || !box || !box.chartData) { return; }
      var series = box.chartData.series[Number(target.getAttribute("data-series-toggle"))];
      if (series) { series.shown = target.checked; drawLines(box, box.chartData); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(draw);
    swatches();
    toggles();
  });
})();
