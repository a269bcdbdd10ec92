// Ferrokiq's line charts: draws series of numbers into an <svg> with a viewBox, using classes
// only (colours come from the stylesheet, so both themes apply and the CSP allows it).
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var PAD = { top: 14, end: 14, bottom: 30, start: 56 };
  var TICKS = 4;
  var LABEL_ROOM = 90;

  function node(name, attributes, parent) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { el.setAttribute(key, String(attributes[key])); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function label(parent, x, y, anchor, value, className) {
    var el = node("text", { x: x, y: y, "text-anchor": anchor, "class": className || "fk-axis" }, parent);
    el.textContent = value;
    return el;
  }

  // A round step (1, 2 or 5 times a power of ten) giving about TICKS lines up to +max+.
  function niceStep(max) {
    var raw = Math.max(max, 1) / TICKS;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (raw <= steps[i] * power) { return Math.max(steps[i] * power, 1); }
    }
    return 10 * power;
  }

  function shortNumber(value) {
    if (value >= 1e9) { return (value / 1e9).toFixed(value % 1e9 === 0 ? 0 : 1) + "G"; }
    if (value >= 1e6) { return (value / 1e6).toFixed(value % 1e6 === 0 ? 0 : 1) + "M"; }
    if (value >= 1e4) { return (value / 1e3).toFixed(value % 1e3 === 0 ? 0 : 1) + "k"; }
    return exactNumber(value);
  }

  function exactNumber(value) {
    return window.Ferrokiq ? window.Ferrokiq.formatNumber(value) : String(value);
  }

  // Which labels the x axis shows: the first, the last and as many evenly spaced between as fit
  // (a label is given about LABEL_ROOM pixels).
  function labelIndexes(count, room) {
    if (count <= 1) { return count === 1 ? [0] : []; }
    var wanted = Math.min(count, 6, Math.max(2, Math.floor(room / LABEL_ROOM)));
    var indexes = [];
    for (var i = 0; i < wanted; i++) { indexes.push(Math.round(i * (count - 1) / (wanted - 1))); }
    return indexes;
  }

  // options: { labels: [String], series: [{ key, name, values: [Number] }] }
  function draw(svg, options) {
    // Drawn at the size shown, so that text keeps its size on a phone and on a wide screen.
    var rect = svg.getBoundingClientRect();
    var width = Math.round(rect.width) || 640;
    var height = Math.round(rect.height) || 240;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    var plotWidth = width - PAD.start - PAD.end;
    var plotHeight = height - PAD.top - PAD.bottom;
    var count = options.labels.length;
    var max = 0;
    options.series.forEach(function (series) {
      series.values.forEach(function (value) { max = Math.max(max, value); });
    });
    var step = niceStep(max);
    var top = Math.max(step * Math.ceil(max / step), step);

    function xAt(index) {
      return count <= 1 ? PAD.start + plotWidth / 2 : PAD.start + (plotWidth * index) / (count - 1);
    }
    function yAt(value) { return PAD.top + plotHeight - (plotHeight * value) / top; }

    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var grid = node("g", { "class": "fk-grid" }, svg);
    for (var tick = 0; tick <= top; tick += step) {
      var y = yAt(tick);
      node("line", { x1: PAD.start, x2: width - PAD.end, y1: y, y2: y }, grid);
      label(svg, PAD.start - 6, y + 4, "end", shortNumber(tick));
    }
    labelIndexes(count, plotWidth).forEach(function (index, position, all) {
      var anchor = position === 0 && all.length > 1 ? "start" : (position === all.length - 1 && all.length > 1 ? "end" : "middle");
      label(svg, xAt(index), height - 8, anchor, options.labels[index]);
    });

    options.series.forEach(function (series) {
      var group = node("g", { "class": "fk-series fk-series-" + series.key }, svg);
      var points = series.values.map(function (value, index) { return xAt(index) + "," + yAt(value); });
      if (points.length > 1) { node("polyline", { points: points.join(" "), "class": "fk-line" }, group); }
      // Dots carry each value as a tooltip; with many points they would only clutter.
      if (count <= 60) {
        series.values.forEach(function (value, index) {
          var dot = node("circle", { cx: xAt(index), cy: yAt(value), r: 3, "class": "fk-dot" }, group);
          var tip = node("title", {}, dot);
          tip.textContent = options.labels[index] + " · " + series.name + ": " + exactNumber(value);
        });
      }
    });
  }

  window.FerrokiqCharts = { draw: draw };
})();
