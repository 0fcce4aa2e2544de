/*
 * seelike report figures: plain JS, shared by the browser report (inlined as a classic script)
 * and by reports/figures.ts (evaluated in Node against a jsdom document).
 *
 * seelikeFigures.draw(kind, spec, env) → detached <svg> element, where
 *   env = { d3, document, raster(width, height, rgba) → href, tooltip?: {show(event, lines), hide()},
 *           uid(prefix) → unique id }.
 * Untrusted text (site names, labels) only ever reaches the DOM through d3 .text() or .attr().
 */
var seelikeFigures = (function () {
  "use strict";
  var SVG_NS = "http://www.w3.org/2000/svg";
  // Raster above 60×60 cells: thousands of <rect> make the page sluggish and the SVG huge.
  var RASTER_CELLS = 3600;
  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var DASHES = ["", "6,3", "2,2", "8,3,2,3", "1,3", "10,4"];

  function root(env, spec, width, height, kind) {
    var svg = env.d3.select(env.document.createElementNS(SVG_NS, "svg"));
    svg.attr("xmlns", SVG_NS)
      .attr("class", "seelike-figure")
      .attr("data-kind", kind)
      .attr("width", width)
      .attr("height", height)
      .attr("viewBox", "0 0 " + width + " " + height)
      .attr("role", "img")
      .attr("aria-label", spec.title)
      .attr("font-family", FONT)
      .attr("font-size", 11)
      .attr("fill", "#222");
    svg.append("title").text(spec.title);
    svg.append("rect").attr("width", width).attr("height", height).attr("fill", "#fff");
    svg.append("text").attr("class", "figure-title").attr("x", 8).attr("y", 16)
      .attr("font-size", 13).attr("font-weight", 600).text(spec.title);
    return svg;
  }

  function truncate(s, n) {
    s = String(s);
    return s.length > n ? s.slice(0, n - 1) + "\u2026" : s;
  }

  function isNum(v) {
    return v !== null && v !== undefined && v === v && isFinite(v);
  }

  function fmt(d3, v) {
    return isNum(v) ? d3.format(".4~g")(v) : "n/a";
  }

  function interpolator(d3, scheme) {
    switch (scheme || "viridis") {
      case "viridis": return d3.interpolateViridis;
      case "cividis": return d3.interpolateCividis;
      case "magma": return d3.interpolateMagma;
      // Diverging schemes run blue (negative) → white (0) → red (positive).
      case "rdbu": return function (t) { return d3.interpolateRdBu(1 - t); };
      case "puor": return function (t) { return d3.interpolatePuOr(t); };
      default: throw new RangeError("invalid scheme: " + scheme);
    }
  }

  /** 256-entry colour table; colour(v) → [r, g, b] or null for a missing value. */
  function colourTable(d3, scheme, domain) {
    var interp = interpolator(d3, scheme);
    var lut = new Uint8Array(256 * 3);
    for (var i = 0; i < 256; i++) {
      var c = d3.rgb(interp(i / 255));
      lut[3 * i] = c.r; lut[3 * i + 1] = c.g; lut[3 * i + 2] = c.b;
    }
    var lo = domain[0], span = domain[1] - domain[0] || 1;
    function index(v) {
      var t = (v - lo) / span;
      return Math.round(255 * (t < 0 ? 0 : t > 1 ? 1 : t));
    }
    return {
      interp: interp,
      rgb: function (v) {
        if (!isNum(v)) return null;
        var k = 3 * index(v);
        return [lut[k], lut[k + 1], lut[k + 2]];
      },
      css: function (v) {
        if (!isNum(v)) return "#d9d9d9";
        var k = 3 * index(v);
        return "rgb(" + lut[k] + "," + lut[k + 1] + "," + lut[k + 2] + ")";
      },
    };
  }

  /** Vertical colour bar with an axis, at (x, y), height h. */
  function legend(env, g, colours, domain, x, y, h, label) {
    var d3 = env.d3;
    var id = env.uid("grad");
    var grad = g.append("defs").append("linearGradient").attr("id", id)
      .attr("x1", 0).attr("y1", 1).attr("x2", 0).attr("y2", 0);
    for (var i = 0; i <= 10; i++) {
      grad.append("stop").attr("offset", i / 10).attr("stop-color", d3.rgb(colours.interp(i / 10)).formatHex());
    }
    var lg = g.append("g").attr("class", "legend").attr("transform", "translate(" + x + "," + y + ")");
    lg.append("rect").attr("width", 12).attr("height", h).attr("fill", "url(#" + id + ")")
      .attr("stroke", "#999").attr("stroke-width", 0.5);
    var scale = d3.scaleLinear().domain(domain).range([h, 0]);
    lg.append("g").attr("transform", "translate(12,0)").call(d3.axisRight(scale).ticks(5, ".2~f"));
    if (label) {
      lg.append("text").attr("transform", "translate(52," + h / 2 + ") rotate(90)")
        .attr("text-anchor", "middle").text(label);
    }
  }

  function paintRaster(colours, values, width, height, map) {
    var rgba = new Uint8ClampedArray(width * height * 4);
    for (var p = 0; p < width * height; p++) {
      var k = map ? map(p) : p;
      var c = k < 0 ? [255, 255, 255] : colours.rgb(values[k]) || [217, 217, 217];
      rgba[4 * p] = c[0]; rgba[4 * p + 1] = c[1]; rgba[4 * p + 2] = c[2]; rgba[4 * p + 3] = 255;
    }
    return rgba;
  }

  function rasterImage(env, g, width, height, rgba, w, h) {
    return g.append("image").attr("href", env.raster(width, height, rgba))
      .attr("width", w).attr("height", h).attr("preserveAspectRatio", "none")
      .attr("style", "image-rendering: pixelated; image-rendering: crisp-edges");
  }

  function hover(env, target, cell) {
    if (!env.tooltip) return;
    var d3 = env.d3;
    target.style("cursor", "crosshair")
      .on("mousemove", function (event) {
        var p = d3.pointer(event, this);
        var lines = cell(p[0], p[1]);
        if (lines) env.tooltip.show(event, lines); else env.tooltip.hide();
      })
      .on("mouseleave", function () { env.tooltip.hide(); });
  }

  /**
   * Heatmap: spec = {title, rows, cols, values (row-major), domain, scheme, rowTitle, colTitle,
   * valueName, legendLabel?, size?}.
   */
  function heatmap(spec, env) {
    var d3 = env.d3;
    var n = spec.rows.length, m = spec.cols.length;
    if (spec.values.length !== n * m) {
      throw new RangeError("invalid heatmap " + spec.title + ": " + spec.values.length + " values for " + n + "×" + m);
    }
    var labelled = Math.max(n, m) <= 40;
    var cell = Math.min(22, (spec.size || 440) / Math.max(n, m, 1));
    var pw = cell * m, ph = cell * n;
    var rowChars = labelled ? Math.min(36, d3.max(spec.rows, function (s) { return String(s).length; }) || 1) : 4;
    var colChars = labelled ? Math.min(36, d3.max(spec.cols, function (s) { return String(s).length; }) || 1) : 3;
    var margin = {
      top: 30,
      left: 28 + rowChars * 6.2,
      bottom: 34 + (labelled ? colChars * 5.4 : 16),
      right: 96,
    };
    var width = Math.ceil(margin.left + pw + margin.right);
    var height = Math.ceil(margin.top + Math.max(ph, 120) + margin.bottom);
    var svg = root(env, spec, width, height, "heatmap");
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    var colours = colourTable(d3, spec.scheme, spec.domain);
    var values = spec.values;
    var raster = n * m > RASTER_CELLS;
    svg.attr("data-render", raster ? "raster" : "vector");
    if (raster) {
      rasterImage(env, g, m, n, paintRaster(colours, values, m, n), pw, ph).attr("class", "cells");
    } else {
      // crispEdges: no anti-aliased seams between adjacent cells.
      var cells = g.append("g").attr("class", "cells").attr("shape-rendering", "crispEdges");
      for (var i = 0; i < n; i++) {
        for (var j = 0; j < m; j++) {
          cells.append("rect").attr("x", j * cell).attr("y", i * cell)
            .attr("width", cell).attr("height", cell)
            .attr("fill", colours.css(values[i * m + j]));
        }
      }
    }
    g.append("rect").attr("width", pw).attr("height", ph).attr("fill", "none")
      .attr("stroke", "#666").attr("stroke-width", 0.5);

    // Axes: site names when they fit, otherwise indices (names stay in the tooltip).
    var xs = d3.scaleBand().domain(d3.range(m)).range([0, pw]);
    var ys = d3.scaleBand().domain(d3.range(n)).range([0, ph]);
    function every(k) { var step = Math.max(1, Math.ceil(k / 10)); return d3.range(0, k, step); }
    var xAxis = d3.axisBottom(xs).tickSizeOuter(0);
    var yAxis = d3.axisLeft(ys).tickSizeOuter(0);
    if (labelled) {
      xAxis.tickFormat(function (j) { return truncate(spec.cols[j], 36); });
      yAxis.tickFormat(function (i) { return truncate(spec.rows[i], 36); });
    } else {
      xAxis.tickValues(every(m));
      yAxis.tickValues(every(n));
    }
    var gx = g.append("g").attr("class", "x-axis").attr("transform", "translate(0," + ph + ")").call(xAxis);
    if (labelled) {
      gx.selectAll("text").attr("text-anchor", "end").attr("dx", "-0.6em").attr("dy", "0.2em")
        .attr("transform", "rotate(-60)");
    }
    g.append("g").attr("class", "y-axis").call(yAxis);
    g.append("text").attr("x", pw / 2).attr("y", height - margin.top - 6).attr("text-anchor", "middle")
      .text(spec.colTitle || "");
    g.append("text").attr("transform", "translate(" + (-margin.left + 12) + "," + ph / 2 + ") rotate(-90)")
      .attr("text-anchor", "middle").text(spec.rowTitle || "");
    legend(env, g, colours, spec.domain, pw + 16, 0, Math.max(ph, 120), spec.legendLabel || spec.valueName);

    var mark = g.append("rect").attr("class", "hover-mark").attr("fill", "none").attr("stroke", "#e4007c")
      .attr("stroke-width", 1.5).attr("width", Math.max(cell, 3)).attr("height", Math.max(cell, 3))
      .attr("visibility", "hidden").attr("pointer-events", "none");
    var hit = g.append("rect").attr("class", "hit").attr("width", pw).attr("height", ph)
      .attr("fill", "transparent").attr("pointer-events", "all");
    hover(env, hit, function (x, y) {
      var j = Math.floor(x / cell), i = Math.floor(y / cell);
      if (i < 0 || j < 0 || i >= n || j >= m) { mark.attr("visibility", "hidden"); return null; }
      mark.attr("x", j * cell).attr("y", i * cell).attr("visibility", "visible");
      return [
        (spec.rowTitle || "row") + " " + i + ": " + spec.rows[i],
        (spec.colTitle || "column") + " " + j + ": " + spec.cols[j],
        (spec.valueName || "value") + " = " + fmt(d3, values[i * m + j]),
      ];
    });
    if (env.tooltip) hit.on("mouseleave.mark", function () { mark.attr("visibility", "hidden"); });
    return svg.node();
  }

  function seriesLegend(env, g, series, x, y) {
    var lg = g.append("g").attr("class", "legend").attr("transform", "translate(" + x + "," + y + ")");
    series.forEach(function (s, k) {
      var row = lg.append("g").attr("transform", "translate(0," + k * 16 + ")");
      row.append("line").attr("x1", 0).attr("x2", 22).attr("y1", 0).attr("y2", 0)
        .attr("stroke", s.colour).attr("stroke-width", 2).attr("stroke-dasharray", s.dash || null);
      row.append("circle").attr("cx", 11).attr("r", 2.5).attr("fill", s.colour);
      row.append("text").attr("x", 28).attr("dy", "0.32em").text(truncate(s.name, 36));
    });
  }

  /**
   * Line chart: spec = {title, xLabel, yLabel, series: [{name, points: [{x, y, label?}]}],
   * xDomain?, yDomain?, yLog?, xInteger?, refLines?: [{y, label}]}.
   */
  function lines(spec, env) {
    var d3 = env.d3;
    var longest = d3.max(spec.series, function (s) { return String(s.name).length; }) || 0;
    var margin = { top: 30, right: 64 + 6.2 * Math.min(36, longest), bottom: 44, left: 58 };
    var pw = spec.width || 440, ph = spec.height || 240;
    var width = margin.left + pw + margin.right, height = margin.top + ph + margin.bottom;
    var svg = root(env, spec, width, height, "lines");
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    var all = [];
    spec.series.forEach(function (s) { s.points.forEach(function (p) { if (isNum(p.y)) all.push(p); }); });
    var xDomain = spec.xDomain || d3.extent(all, function (p) { return p.x; });
    if (!isNum(xDomain[0])) xDomain = [0, 1];
    if (xDomain[0] === xDomain[1]) xDomain = [xDomain[0] - 0.5, xDomain[1] + 0.5];
    var refs = spec.refLines || [];
    var yExt = d3.extent(all.map(function (p) { return p.y; }).concat(refs.map(function (r) { return r.y; })));
    var yDomain = spec.yDomain || [Math.min(0, yExt[0] || 0), (yExt[1] || 1) * 1.05];
    var x = d3.scaleLinear().domain(xDomain).range([0, pw]);
    var y;
    if (spec.yLog) {
      var pos = all.map(function (p) { return p.y; }).filter(function (v) { return v > 0; });
      y = d3.scaleLog().domain(spec.yDomain || [d3.min(pos) || 0.1, d3.max(pos) || 1]).range([ph, 0]).nice();
    } else {
      y = d3.scaleLinear().domain(yDomain).range([ph, 0]).nice();
    }
    g.append("g").attr("class", "grid").attr("stroke", "#eee")
      .selectAll("line").data(y.ticks(6)).join("line")
      .attr("x1", 0).attr("x2", pw).attr("y1", function (v) { return y(v); }).attr("y2", function (v) { return y(v); });
    var xAxis = d3.axisBottom(x).ticks(8);
    if (spec.xInteger) xAxis.tickFormat(d3.format("d")).tickValues(x.ticks(8).filter(Number.isInteger));
    g.append("g").attr("class", "x-axis").attr("transform", "translate(0," + ph + ")").call(xAxis);
    g.append("g").attr("class", "y-axis").call(d3.axisLeft(y).ticks(6, spec.yLog ? "~g" : undefined));
    g.append("text").attr("x", pw / 2).attr("y", ph + 36).attr("text-anchor", "middle").text(spec.xLabel || "");
    g.append("text").attr("transform", "translate(-44," + ph / 2 + ") rotate(-90)")
      .attr("text-anchor", "middle").text(spec.yLabel || "");
    refs.forEach(function (r) {
      g.append("line").attr("class", "ref").attr("x1", 0).attr("x2", pw).attr("y1", y(r.y)).attr("y2", y(r.y))
        .attr("stroke", "#555").attr("stroke-dasharray", "5,4");
      g.append("text").attr("x", pw - 4).attr("y", y(r.y) - 4).attr("text-anchor", "end").attr("fill", "#555")
        .text(r.label);
    });
    var palette = d3.schemeTableau10;
    var styled = spec.series.map(function (s, k) {
      return { name: s.name, points: s.points, colour: palette[k % 10], dash: DASHES[k % DASHES.length] };
    });
    var line = d3.line().defined(function (p) { return isNum(p.y) && (!spec.yLog || p.y > 0); })
      .x(function (p) { return x(p.x); }).y(function (p) { return y(p.y); });
    styled.forEach(function (s) {
      var sg = g.append("g").attr("class", "series");
      sg.append("path").attr("d", line(s.points)).attr("fill", "none").attr("stroke", s.colour)
        .attr("stroke-width", 1.8).attr("stroke-dasharray", s.dash || null);
      var dots = sg.selectAll("circle").data(s.points.filter(line.defined())).join("circle")
        .attr("cx", function (p) { return x(p.x); }).attr("cy", function (p) { return y(p.y); })
        .attr("r", 3).attr("fill", s.colour);
      if (env.tooltip) {
        dots.style("cursor", "crosshair").on("mousemove", function (event, p) {
          env.tooltip.show(event, [s.name, p.label != null ? String(p.label) : (spec.xLabel || "x") + " = " + fmt(d3, p.x),
            (spec.yLabel || "y") + " = " + fmt(d3, p.y)]);
        }).on("mouseleave", function () { env.tooltip.hide(); });
      }
    });
    seriesLegend(env, g, styled, pw + 20, 8);
    return svg.node();
  }

  /** Attention distance per head and layer: spec = {title, layers: [{layer, heads}], ceiling, ceilingLabel}. */
  function dots(spec, env) {
    var d3 = env.d3;
    var margin = { top: 30, right: 30, bottom: 44, left: 58 };
    var pw = spec.width || 440, ph = spec.height || 260;
    var width = margin.left + pw + margin.right, height = margin.top + ph + margin.bottom;
    var svg = root(env, spec, width, height, "dots");
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    var layers = spec.layers.map(function (l) { return l.layer; });
    var x = d3.scaleLinear().domain([d3.min(layers) - 0.6, d3.max(layers) + 0.6]).range([0, pw]);
    var ymax = Math.max(spec.ceiling || 0, d3.max(spec.layers, function (l) { return d3.max(l.heads); }) || 1);
    var y = d3.scaleLinear().domain([0, ymax * 1.08]).range([ph, 0]).nice();
    g.append("g").attr("class", "x-axis").attr("transform", "translate(0," + ph + ")")
      .call(d3.axisBottom(x).tickValues(layers.length <= 24 ? layers : x.ticks(12).filter(Number.isInteger)).tickFormat(d3.format("d")));
    g.append("g").attr("class", "y-axis").call(d3.axisLeft(y).ticks(6));
    g.append("text").attr("x", pw / 2).attr("y", ph + 36).attr("text-anchor", "middle").text(spec.xLabel || "layer (block index)");
    g.append("text").attr("transform", "translate(-44," + ph / 2 + ") rotate(-90)")
      .attr("text-anchor", "middle").text(spec.yLabel || "mean attention distance (px)");
    if (isNum(spec.ceiling)) {
      g.append("line").attr("class", "ref").attr("x1", 0).attr("x2", pw).attr("y1", y(spec.ceiling)).attr("y2", y(spec.ceiling))
        .attr("stroke", "#555").attr("stroke-dasharray", "5,4");
      g.append("text").attr("x", pw - 4).attr("y", y(spec.ceiling) - 4).attr("text-anchor", "end").attr("fill", "#555")
        .text(spec.ceilingLabel || "uniform attention");
    }
    var pts = [];
    spec.layers.forEach(function (l) {
      var hcount = l.heads.length;
      l.heads.forEach(function (v, h) {
        // Spread heads a little sideways so equal distances stay visible.
        var jitter = hcount > 1 ? (h / (hcount - 1) - 0.5) * Math.min(10, pw / layers.length * 0.4) : 0;
        pts.push({ layer: l.layer, head: h, v: v, jitter: jitter });
      });
    });
    var circles = g.append("g").attr("class", "marks").selectAll("circle").data(pts.filter(function (p) { return isNum(p.v); }))
      .join("circle").attr("cx", function (p) { return x(p.layer) + p.jitter; }).attr("cy", function (p) { return y(p.v); })
      .attr("r", 3).attr("fill", "#4e79a7").attr("fill-opacity", 0.75).attr("stroke", "#1f3b5a").attr("stroke-width", 0.4);
    if (env.tooltip) {
      circles.style("cursor", "crosshair").on("mousemove", function (event, p) {
        env.tooltip.show(event, ["layer " + p.layer + ", head " + p.head, "distance = " + fmt(d3, p.v) + " px"]);
      }).on("mouseleave", function () { env.tooltip.hide(); });
    }
    return svg.node();
  }

  /** Heads sorted by distance for a few layers: spec = {title, panels: [{layer, heads}], ceiling}. */
  function sortedHeads(spec, env) {
    var d3 = env.d3;
    var k = spec.panels.length;
    var pw = 150, ph = 180, gap = 28;
    var margin = { top: 60, right: 16, bottom: 44, left: 58 };
    var width = margin.left + k * pw + (k - 1) * gap + margin.right, height = margin.top + ph + margin.bottom;
    var svg = root(env, spec, width, height, "sorted-heads");
    var ymax = Math.max(spec.ceiling || 0, d3.max(spec.panels, function (p) { return d3.max(p.heads); }) || 1);
    var y = d3.scaleLinear().domain([0, ymax * 1.08]).range([ph, 0]).nice();
    spec.panels.forEach(function (panel, idx) {
      var sorted = panel.heads.filter(isNum).slice().sort(d3.ascending);
      var g = svg.append("g").attr("class", "panel")
        .attr("transform", "translate(" + (margin.left + idx * (pw + gap)) + "," + margin.top + ")");
      var x = d3.scaleLinear().domain([0, Math.max(1, sorted.length - 1)]).range([6, pw - 6]);
      g.append("text").attr("x", pw / 2).attr("y", -8).attr("text-anchor", "middle").attr("font-weight", 600)
        .text("layer " + panel.layer);
      g.append("g").attr("transform", "translate(0," + ph + ")")
        .call(d3.axisBottom(x).ticks(Math.min(sorted.length, 5)).tickFormat(d3.format("d")));
      g.append("g").call(d3.axisLeft(y).ticks(5));
      if (isNum(spec.ceiling)) {
        g.append("line").attr("class", "ref").attr("x1", 0).attr("x2", pw).attr("y1", y(spec.ceiling)).attr("y2", y(spec.ceiling))
          .attr("stroke", "#555").attr("stroke-dasharray", "5,4");
      }
      g.append("path").attr("fill", "none").attr("stroke", "#4e79a7").attr("stroke-width", 1.2)
        .attr("d", d3.line().x(function (v, i) { return x(i); }).y(function (v) { return y(v); })(sorted));
      var c = g.selectAll("circle").data(sorted).join("circle").attr("cx", function (v, i) { return x(i); })
        .attr("cy", function (v) { return y(v); }).attr("r", 3).attr("fill", "#4e79a7");
      if (env.tooltip) {
        c.style("cursor", "crosshair").on("mousemove", function (event, v) {
          env.tooltip.show(event, ["layer " + panel.layer, "distance = " + fmt(d3, v) + " px"]);
        }).on("mouseleave", function () { env.tooltip.hide(); });
      }
    });
    svg.append("text").attr("x", margin.left + (width - margin.left - margin.right) / 2).attr("y", height - 8)
      .attr("text-anchor", "middle").text("heads, sorted by mean attention distance");
    svg.append("text").attr("transform", "translate(16," + (margin.top + ph / 2) + ") rotate(-90)")
      .attr("text-anchor", "middle").text("mean attention distance (px)");
    if (isNum(spec.ceiling)) {
      svg.append("text").attr("x", 8).attr("y", 32).attr("fill", "#555")
        .text("dashed: uniform attention, " + fmt(d3, spec.ceiling) + " px");
    }
    return svg.node();
  }

  /**
   * Small multiples of grid maps: spec = {title, grid: [gr, gc], maps: [{label, position?, values}],
   * domain, scheme, valueName}.
   */
  function tiles(spec, env) {
    var d3 = env.d3;
    var gr = spec.grid[0], gc = spec.grid[1];
    var per = Math.min(spec.maps.length, 6) || 1, rowsOf = Math.ceil(spec.maps.length / per);
    var side = 100, cell = side / Math.max(gr, gc), tw = cell * gc, th = cell * gr, gap = 18, lab = 16;
    var margin = { top: 30, right: 90, bottom: 10, left: 10 };
    var width = Math.ceil(margin.left + per * (tw + gap) + margin.right);
    var height = Math.ceil(margin.top + rowsOf * (th + lab + gap) + margin.bottom);
    var svg = root(env, spec, width, height, "tiles");
    var colours = colourTable(d3, spec.scheme, spec.domain);
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    spec.maps.forEach(function (map, k) {
      if (map.values.length !== gr * gc) throw new RangeError("invalid map " + map.label + ": " + map.values.length + " values for " + gr + "×" + gc);
      var tg = g.append("g").attr("class", "tile")
        .attr("transform", "translate(" + (k % per) * (tw + gap) + "," + Math.floor(k / per) * (th + lab + gap) + ")");
      rasterImage(env, tg, gc, gr, paintRaster(colours, map.values, gc, gr), tw, th);
      tg.append("rect").attr("width", tw).attr("height", th).attr("fill", "none").attr("stroke", "#666").attr("stroke-width", 0.5);
      if (map.position) {
        tg.append("rect").attr("x", map.position[1] * cell).attr("y", map.position[0] * cell).attr("width", cell)
          .attr("height", cell).attr("fill", "none").attr("stroke", "#e4007c").attr("stroke-width", 1.5);
      }
      tg.append("text").attr("x", tw / 2).attr("y", th + 13).attr("text-anchor", "middle").text(truncate(map.label, 22));
      var hit = tg.append("rect").attr("class", "hit").attr("width", tw).attr("height", th)
        .attr("fill", "transparent").attr("pointer-events", "all");
      hover(env, hit, function (x, y) {
        var c = Math.floor(x / cell), r = Math.floor(y / cell);
        if (r < 0 || c < 0 || r >= gr || c >= gc) return null;
        return [map.label, "input cell (" + r + ", " + c + ")", (spec.valueName || "value") + " = " + fmt(d3, map.values[r * gc + c])];
      });
    });
    legend(env, svg, colours, spec.domain, width - margin.right + 14, margin.top, Math.max(th, 100), spec.valueName);
    return svg.node();
  }

  /** g×g tiles of g×g cosine maps (ViT Fig. 7 centre): spec = {title, grid, values, domain, scheme}. */
  function tileGrid(spec, env) {
    var d3 = env.d3;
    var gr = spec.grid[0], gc = spec.grid[1], cells = gr * gc;
    if (spec.values.length !== cells * cells) {
      throw new RangeError("invalid position-embedding grid: " + spec.values.length + " values for " + gr + "×" + gc + " patches");
    }
    // One pixel per value, one white pixel between tiles.
    var W = gc * (gc + 1) - 1, H = gr * (gr + 1) - 1;
    var scale = Math.max(1, Math.floor(440 / Math.max(W, H)));
    var pw = W * scale, ph = H * scale;
    var margin = { top: 30, right: 96, bottom: 46, left: 56 };
    var width = margin.left + pw + margin.right, height = margin.top + ph + margin.bottom;
    var svg = root(env, spec, width, height, "tile-grid");
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    var colours = colourTable(d3, spec.scheme, spec.domain);
    function at(px, py) {
      var i = Math.floor(py / (gr + 1)), k = py % (gr + 1), j = Math.floor(px / (gc + 1)), l = px % (gc + 1);
      if (k === gr || l === gc) return null;
      return { i: i, j: j, k: k, l: l, index: (i * gc + j) * cells + k * gc + l };
    }
    var rgba = paintRaster(colours, spec.values, W, H, function (p) {
      var c = at(p % W, Math.floor(p / W));
      return c ? c.index : -1;
    });
    rasterImage(env, g, W, H, rgba, pw, ph);
    var x = d3.scaleBand().domain(d3.range(1, gc + 1)).range([0, pw]);
    var y = d3.scaleBand().domain(d3.range(1, gr + 1)).range([0, ph]);
    g.append("g").attr("transform", "translate(0," + ph + ")").call(d3.axisBottom(x).tickSize(3));
    g.append("g").call(d3.axisLeft(y).tickSize(3));
    g.append("text").attr("x", pw / 2).attr("y", ph + 36).attr("text-anchor", "middle").text("input patch column");
    g.append("text").attr("transform", "translate(-40," + ph / 2 + ") rotate(-90)").attr("text-anchor", "middle").text("input patch row");
    legend(env, g, colours, spec.domain, pw + 16, 0, Math.min(ph, 240), spec.valueName || "cosine similarity");
    var hit = g.append("rect").attr("class", "hit").attr("width", pw).attr("height", ph)
      .attr("fill", "transparent").attr("pointer-events", "all");
    hover(env, hit, function (px, py) {
      var c = at(Math.floor(px / scale), Math.floor(py / scale));
      if (!c || c.i >= gr || c.j >= gc) return null;
      return ["patch (" + c.i + ", " + c.j + ") vs (" + c.k + ", " + c.l + ")", "cosine = " + fmt(d3, spec.values[c.index])];
    });
    return svg.node();
  }

  /** Filter components as small images: spec = {title, patchSize, channels, layout, components: [{values, variance}]}. */
  function filters(spec, env) {
    var d3 = env.d3;
    var P = spec.patchSize, C = spec.channels, n = spec.components.length;
    var per = Math.min(n, 7) || 1, rowsOf = Math.ceil(n / per), side = 48, gap = 10, lab = 14;
    var margin = { top: 30, right: 10, bottom: 8, left: 10 };
    var width = margin.left + per * (side + gap) + margin.right;
    var height = margin.top + rowsOf * (side + lab + gap) + margin.bottom;
    var svg = root(env, spec, width, height, "filters");
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    spec.components.forEach(function (comp, k) {
      var v = comp.values;
      if (v.length !== P * P * C) throw new RangeError("invalid filter component " + k + ": " + v.length + " values for " + P + "×" + P + "×" + C);
      // Each component is scaled to [0, 1] on its own (ViT paper Fig. 7 left): only its shape matters.
      var lo = Infinity, hi = -Infinity;
      for (var q = 0; q < v.length; q++) { if (isNum(v[q])) { if (v[q] < lo) lo = v[q]; if (v[q] > hi) hi = v[q]; } }
      var span = hi - lo || 1;
      var rgba = new Uint8ClampedArray(P * P * 4);
      for (var p = 0; p < P * P; p++) {
        for (var ch = 0; ch < 3; ch++) {
          var c = C >= 3 ? ch : 0;
          var idx = spec.layout === "hwc" ? p * C + c : c * P * P + p;
          rgba[4 * p + ch] = Math.round(255 * ((isNum(v[idx]) ? v[idx] : lo) - lo) / span);
        }
        rgba[4 * p + 3] = 255;
      }
      var tg = g.append("g").attr("class", "component")
        .attr("transform", "translate(" + (k % per) * (side + gap) + "," + Math.floor(k / per) * (side + lab + gap) + ")");
      var img = rasterImage(env, tg, P, P, rgba, side, side);
      tg.append("text").attr("x", side / 2).attr("y", side + 11).attr("text-anchor", "middle").attr("font-size", 9)
        .text("PC" + (k + 1) + (isNum(comp.variance) ? " " + d3.format(".2~%")(comp.variance) : ""));
      if (env.tooltip) {
        img.on("mousemove", function (event) {
          env.tooltip.show(event, ["principal component " + (k + 1), "explained variance = " + fmt(d3, comp.variance)]);
        }).on("mouseleave", function () { env.tooltip.hide(); });
      }
    });
    return svg.node();
  }

  var kinds = { heatmap: heatmap, lines: lines, dots: dots, "sorted-heads": sortedHeads, tiles: tiles, "tile-grid": tileGrid, filters: filters };

  function draw(kind, spec, env) {
    var f = kinds[kind];
    if (!f) throw new RangeError("invalid figure kind: " + kind);
    var node = f(spec, env);
    // d3-axis sets its own font on each axis; use the figure's font throughout.
    env.d3.select(node).selectAll("g[font-family]").attr("font-family", null);
    return node;
  }

  return { draw: draw, kinds: Object.keys(kinds), RASTER_CELLS: RASTER_CELLS };
})();
