/*
 * seelike report boot script (plain JS, inlined after d3 and figures.js): reads the inlined
 * JSON, draws every figure into its <figure data-figure="ID">, wires the tooltip and the
 * SVG/PNG export buttons. Makes no network request.
 */
(function () {
  "use strict";
  var d3 = window.d3;
  var payload = JSON.parse(document.getElementById("seelike-data").textContent);
  var tip = d3.select("#seelike-tooltip");
  var counter = 0;

  var tooltip = {
    show: function (event, lines) {
      tip.selectAll("div").data(lines).join("div").text(function (d) { return d; });
      tip.attr("hidden", null);
      var node = tip.node();
      var x = event.clientX + 14, y = event.clientY + 14;
      if (x + node.offsetWidth > window.innerWidth - 4) x = event.clientX - node.offsetWidth - 10;
      if (y + node.offsetHeight > window.innerHeight - 4) y = event.clientY - node.offsetHeight - 10;
      tip.style("left", Math.max(0, x) + "px").style("top", Math.max(0, y) + "px");
    },
    hide: function () { tip.attr("hidden", ""); },
  };

  function raster(width, height, rgba) {
    var canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    var ctx = canvas.getContext("2d");
    ctx.putImageData(new ImageData(rgba, width, height), 0, 0);
    return canvas.toDataURL("image/png");
  }

  var env = {
    d3: d3,
    document: document,
    raster: raster,
    tooltip: tooltip,
    uid: function (prefix) { return "seelike-" + prefix + "-" + ++counter; },
  };

  function svgText(svg) {
    var clone = svg.cloneNode(true);
    clone.querySelectorAll(".hit, .hover-mark").forEach(function (n) { n.remove(); });
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function savePNG(svg, name, status) {
    var text = svgText(svg);
    var w = +svg.getAttribute("width"), h = +svg.getAttribute("height"), scale = 2;
    var url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    var img = new Image();
    img.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = w * scale;
      canvas.height = h * scale;
      var ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, w * scale, h * scale);
      URL.revokeObjectURL(url);
      try {
        canvas.toBlob(function (blob) { save(blob, name + ".png"); }, "image/png");
      } catch (e) {
        status.text("PNG export failed: " + e.message);
      }
    };
    img.onerror = function () { status.text("PNG export failed: the SVG could not be rasterised"); };
    img.src = url;
  }

  function buttons(figure, svg, id) {
    var bar = d3.select(figure).insert("div", ".plot").attr("class", "buttons");
    var status = d3.select(figure).append("div").attr("class", "status");
    bar.append("button").attr("type", "button").attr("class", "save-svg").text("Save SVG")
      .on("click", function () { save(new Blob([svgText(svg)], { type: "image/svg+xml" }), id + ".svg"); });
    bar.append("button").attr("type", "button").attr("class", "save-png").text("Save PNG")
      .on("click", function () { savePNG(svg, id, status); });
  }

  payload.figures.forEach(function (f) {
    var figure = document.querySelector('figure[data-figure="' + CSS.escape(f.id) + '"]');
    if (!figure) return;
    var holder = figure.querySelector(".plot");
    try {
      var svg = seelikeFigures.draw(f.kind, f.spec, env);
      holder.appendChild(svg);
      buttons(figure, svg, f.id);
    } catch (e) {
      d3.select(holder).append("p").attr("class", "error").text("Could not draw this figure: " + e.message);
      console.error(e);
    }
  });
  document.documentElement.setAttribute("data-ready", "true");
})();
