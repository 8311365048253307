// Helpers of the map pages that pipeline/outputs/maps.py builds with folium (inlined, like Leaflet).
// Every text from the data reaches the page through textContent or a DOM node, never as HTML:
// a place called "<script>…" shows as text and never runs.
(function () {
  "use strict";
  var P = (window.anchorPage = { layers: [], settlementLayers: [], labelLayers: [] });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  P.el = el;

  function number(v) {
    return String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }

  // A popup: a bold title and a table of [label, value] rows (null: "unknown").
  P.table = function (title, rows, unknown) {
    var box = el("div", "popup");
    if (title !== undefined && title !== null) box.appendChild(el("b", null, title));
    var t = el("table");
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", null, row[1] === null || row[1] === undefined ? unknown : row[1]));
      t.appendChild(tr);
    });
    box.appendChild(t);
    return box;
  };

  // One popup value by its format: t text, n whole number, m minutes (null: unreachable),
  // l index into a lookup list, r a ready [label, value] list in the property itself.
  function value(props, row, spec) {
    var v = props[row[1]];
    if (v === undefined || v === null) return row[2] === "m" ? spec.unreachable : null;
    if (row[2] === "l" && v < 0) return null;
    if (row[2] === "n") return number(v);
    if (row[2] === "m") return Math.round(v * 10) / 10;
    if (row[2] === "l") return v < 0 ? null : spec.lookups[row[3]][v];
    return v;
  }

  // on_each_feature for folium.GeoJson: a popup (built on click) and an optional tooltip.
  P.popup = function (spec) {
    return function (feature, layer) {
      if (spec.search && feature.properties[spec.search] === undefined) {
        feature.properties[spec.search] = feature.properties[spec.title];
      }
      layer.bindPopup(function () {
        var props = feature.properties;
        var rows = [];
        spec.rows.forEach(function (row) {
          if (row[2] === "r") {
            (props[row[1]] || []).forEach(function (r) { rows.push(r); });
          } else {
            rows.push([row[0], value(props, row, spec)]);
          }
        });
        var title = spec.title ? props[spec.title] : spec.fixedTitle;
        return P.table(title, rows, spec.unknown);
      });
      if (spec.tooltip && props(feature)[spec.tooltip] !== undefined) {
        layer.bindTooltip(el("span", null, props(feature)[spec.tooltip]), {
          sticky: true, direction: "top", opacity: 0.9,
        });
      }
      if (spec.settlements) P.settlementLayers.push(layer);
    };
  };
  function props(feature) { return feature.properties || {}; }

  // point_to_layer for folium.GeoJson: a canvas circle in `pane`, styled by `style`.
  P.circles = function (pane) {
    return function (feature, latlng) { return L.circleMarker(latlng, { pane: pane }); };
  };
  // style for folium.GeoJson: one of `styles` by the feature's property `key`.
  P.styleBy = function (key, styles) {
    return function (feature) { return styles[props(feature)[key]] || styles[0]; };
  };
  // point_to_layer: a symbol (★, ◆, ▼ …) as a marker; `symbols` by the property `key`.
  P.symbols = function (key, symbols, labelKey, permanentKey) {
    return function (feature, latlng) {
      var s = symbols[props(feature)[key]] || symbols[0];
      var node = el("div", "symbol", s.symbol);
      node.style.color = s.colour;
      node.style.fontSize = s.size + "px";
      var marker = L.marker(latlng, {
        icon: L.divIcon({ html: node, className: "symbol-icon", iconSize: [s.size + 4, s.size + 4] }),
        keyboard: false,
        zIndexOffset: s.z || 0,
      });
      if (labelKey && props(feature)[labelKey]) {
        marker.bindTooltip(el("span", null, props(feature)[labelKey]), {
          permanent: !!props(feature)[permanentKey], direction: "right", offset: [s.size / 2, 0],
          className: "anchor-label",
        });
      }
      return marker;
    };
  };
  // point_to_layer: a text label (catchments named after their anchor).
  P.labels = function (key, className) {
    return function (feature, latlng) {
      return L.marker(latlng, {
        icon: L.divIcon({ html: el("span", null, props(feature)[key]), className: className, iconSize: null }),
        interactive: false, keyboard: false,
      });
    };
  };

  // A layer's legend and switches, registered by pipeline.maps.Legend (a branca element).
  P.register = function (layer, spec) {
    layer.anchorSpec = spec;
    P.layers.push(layer);
  };

  // Search (leaflet-search): each result is text, never HTML.
  P.searchTip = function (text) {
    var a = el("a", "search-tip", text);
    a.href = "#";
    return a;
  };
  P.searchMove = function (latlng, title, map) {
    map.setView(latlng, Math.max(map.getZoom(), 12));
  };
  P.searchFound = function (e) {
    var layer = e.layer;
    if (!layer) return;
    P.layers.forEach(function (group) {
      if (group.hasLayer && (group.hasLayer(layer) || (group.eachLayer && containsLayer(group, layer))) && !P.map.hasLayer(group)) {
        group.addTo(P.map);
      }
    });
    layer.openPopup();
  };
  function containsLayer(group, layer) {
    var found = false;
    group.eachLayer(function (child) {
      if (child === layer || (child.eachLayer && child.hasLayer && child.hasLayer(layer))) found = true;
    });
    return found;
  }

  function swatch(item) {
    var s = el("span", "swatch " + item.kind, item.kind === "symbol" ? item.symbol : "");
    if (item.kind === "fill" || item.kind === "point") {
      s.style.background = item.colour;
      if (item.opacity !== undefined) s.style.opacity = item.opacity;
    }
    if (item.kind === "line") {
      s.style.borderTop = (item.width || 3) + "px " + (item.dashed ? "dashed " : "solid ") + item.colour;
    }
    if (item.kind === "symbol") s.style.color = item.colour || "#111";
    if (item.outline) s.style.border = (item.outlineWidth || 2) + "px solid " + item.outline;
    if (item.size) { s.style.width = item.size + "px"; s.style.height = item.size + "px"; }
    return s;
  }

  // Child layers of `group` drawn only from `zoom` on (minor roads): kept aside below it.
  function minZoom(map, group, zoom) {
    var kept = [];
    group.eachLayer(function (child) { kept.push(child); });
    function update() {
      var show = map.getZoom() >= zoom;
      kept.forEach(function (child) {
        if (show && !group.hasLayer(child)) group.addLayer(child);
        if (!show && group.hasLayer(child)) group.removeLayer(child);
      });
    }
    map.on("zoomend", update);
    update();
  }

  // Features drawn in a layer (labels not counted).
  function count(layer) {
    if (P.labelLayers.indexOf(layer) >= 0) return 0;
    if (layer.feature) return 1;
    var n = 0;
    if (layer.eachLayer) layer.eachLayer(function (child) { n += count(child); });
    return n;
  }

  var LEGEND_WIDTH = 312; // .legend: 270 px wide, padding and border, and a margin
  var OPEN_LIST_WIDTH = 330;
  var FOLDED_WIDTH = 130;

  function fit() {
    var b = P.bounds;
    var pad = P.padding;
    P.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {
      paddingTopLeft: [pad.left, pad.top], paddingBottomRight: [pad.right, pad.bottom],
    });
  }

  // Right after the map is made, before any layer: open on the region, in the part of the
  // map that the panel, the legend and the layer list leave free (drawn once, not twice).
  P.start = function (map, bounds) {
    P.map = map;
    P.bounds = bounds;
    var size = map.getSize();
    var panel = document.getElementById("panel");
    P.folded = size.x - OPEN_LIST_WIDTH - LEGEND_WIDTH < 0.6 * size.x;
    var pad = { left: LEGEND_WIDTH, right: P.folded ? FOLDED_WIDTH : OPEN_LIST_WIDTH,
                top: (panel ? panel.offsetHeight : 0) + 20, bottom: 30 };
    if (pad.left + pad.right > 0.6 * size.x) pad.left = pad.right = 20;
    if (pad.top > 0.4 * size.y) pad.top = 20;
    P.padding = pad;
    fit();
  };

  // Labels (catchments) that would overlap a larger one are hidden at this zoom.
  function declutter(map) {
    var kept = [];
    P.labelLayers.forEach(function (layer) {
      var markers = [];
      layer.eachLayer(function (m) { markers.push(m); });
      markers.sort(function (a, b) { return (b.feature.properties.area || 0) - (a.feature.properties.area || 0); });
      markers.forEach(function (m) {
        var node = m.getElement && m.getElement();
        if (!node) return;
        node.style.visibility = "visible";
        var r = node.firstChild ? node.firstChild.getBoundingClientRect() : node.getBoundingClientRect();
        var hit = kept.some(function (k) {
          return r.left < k.right + 8 && r.right > k.left - 8 && r.top < k.bottom + 3 && r.bottom > k.top - 3;
        });
        if (hit) node.style.visibility = "hidden";
        else kept.push(r);
      });
    });
  }

  // Everything else, once folium has made the map, its layers and the layer control.
  P.init = function (map, options) {
    var text = options.text;
    var overlays = {};
    var groups = {};
    P.layers.forEach(function (layer) {
      var spec = layer.anchorSpec;
      overlays[spec.key] = layer;
      if (spec.group) (groups[spec.group] = groups[spec.group] || []).push(layer);
      if (spec.minZoom) minZoom(map, layer, spec.minZoom);
    });
    L.control.scale({ metric: true, imperial: false, maxWidth: 160, position: "bottomright" }).addTo(map);
    // The data are from OpenStreetMap: credit them even when the basemap is gone.
    map.attributionControl.addAttribution(el("span", null, text.attribution).innerHTML);

    // Online: the OSM basemap. Offline: the first failed tile removes it and says so.
    var note = document.getElementById("offline-note");
    var basemap = options.basemap;
    if (basemap) {
      basemap.on("tileerror", function () {
        if (map.hasLayer(basemap)) {
          map.removeLayer(basemap);
          note.hidden = false;
        }
      });
    }

    // Layers sharing a group are exclusive (the season switcher, the service deserts).
    map.on("overlayadd", function (e) {
      var spec = e.layer.anchorSpec;
      if (!spec || !spec.group) return;
      groups[spec.group].forEach(function (other) {
        if (other !== e.layer && map.hasLayer(other)) map.removeLayer(other);
      });
    });

    // The legend: one block per layer shown, in the layer control's order.
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      var box = el("div", "legend");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    legend.addTo(map);
    function drawLegend() {
      var box = legend.getContainer();
      box.textContent = "";
      P.layers.slice().reverse().forEach(function (layer) {
        var spec = layer.anchorSpec;
        if (!map.hasLayer(layer) || !spec.legend.length) return;
        var block = el("div", "legend-block");
        block.dataset.layer = spec.key;
        block.appendChild(el("div", "legend-title", spec.name));
        spec.legend.forEach(function (item) {
          var row = el("div", "legend-row");
          row.appendChild(swatch(item));
          row.appendChild(el("span", "legend-label", item.label));
          block.appendChild(row);
        });
        box.appendChild(block);
      });
      box.hidden = !box.childNodes.length;
    }
    map.on("overlayadd overlayremove", drawLegend);
    drawLegend();

    // The layer list: a title that folds it away; folded from the start where the open list
    // would leave the region too little room (see P.start).
    var control = options.control;
    if (control) {
      var container = control.getContainer();
      var head = el("button", "layers-head", text.layers);
      head.type = "button";
      head.addEventListener("click", function () {
        var folded = container.classList.toggle("folded");
        head.setAttribute("aria-expanded", folded ? "false" : "true");
      });
      container.insertBefore(head, container.firstChild);
      if (P.folded) container.classList.add("folded");
      head.setAttribute("aria-expanded", P.folded ? "false" : "true");
      var wanted = P.folded ? FOLDED_WIDTH : container.offsetWidth + 20;
      if (Math.abs(wanted - P.padding.right) > 40) { P.padding.right = wanted; fit(); }
    }
    declutter(map);
    map.on("zoomend moveend", function () { declutter(map); });
    // again once fonts and the last fit have settled (label sizes depend on them)
    window.addEventListener("load", function () { declutter(map); });
    setTimeout(function () { declutter(map); }, 400);

    var markers = [];
    P.settlementLayers.forEach(function (m) { markers.push(m); });
    window.anchorMap = {
      map: map,
      overlays: overlays,
      settlements: markers,
      count: function (key) { return count(overlays[key]); },
      find: function (q) {
        var s = P.search;
        if (!s) return false;
        s._recordsCache = s._recordsFromLayer();
        s._input.value = q;
        s._handleSubmit();
        return true;
      },
      fit: fit,
      declutter: function () { declutter(map); },
      redrawLegend: drawLegend,
    };
  };
})();
