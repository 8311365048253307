// The reviewer's map. Reads the page's JSON data block; every text from the data is put into
// the page with textContent (never as HTML), so a place name can never run as code.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("map-data").textContent);
  var T = DATA.text;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function table(title, rows) {
    var box = el("div", "popup");
    if (title) box.appendChild(el("b", null, title));
    var t = el("table");
    rows.forEach(function (row) {
      if (row[1] === undefined) return;
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", null, row[1] === null ? T.unknown : row[1]));
      t.appendChild(tr);
    });
    box.appendChild(t);
    return box;
  }

  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.25 });
  map.fitBounds([[DATA.bounds[1], DATA.bounds[0]], [DATA.bounds[3], DATA.bounds[2]]]);
  var panes = { polygons: 410, gaps: 415, lines: 420, points: 430 };
  var renderers = {};
  Object.keys(panes).forEach(function (name) {
    map.createPane(name).style.zIndex = panes[name];
    renderers[name] = L.canvas({ pane: name, padding: 0.3 });
  });
  L.control.scale({ metric: true, imperial: false, maxWidth: 160 }).addTo(map);

  // Online: the OSM basemap. Offline: the first failed tile removes it and says so.
  var basemap = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: el("span", null, T.attribution).innerHTML,
  });
  var offlineNote = document.getElementById("offline-note");
  basemap.on("tileerror", function () {
    if (map.hasLayer(basemap)) {
      map.removeLayer(basemap);
      offlineNote.textContent = T.basemap_offline;
      offlineNote.hidden = false;
    }
  });
  basemap.addTo(map);
  // The data are from OpenStreetMap too: credit them even when the basemap is gone.
  map.attributionControl.addAttribution(el("span", null, T.attribution).innerHTML);

  function polygons(key, pane, style, popup) {
    return L.geoJSON(DATA.layers[key], {
      renderer: renderers[pane],
      pane: pane,
      style: style,
      onEachFeature: function (feature, layer) {
        layer.bindPopup(function () { return popup(feature.properties); });
      },
    });
  }

  var overlays = {};
  var legends = {};
  function add(key, layer, visible) {
    layer.legendKey = key;
    overlays[key] = layer;
    if (visible) layer.addTo(map);
  }

  add("catchments", polygons("catchments", "polygons",
    function (f) { return { color: f.properties.colour, fillColor: f.properties.colour, weight: 0.6, fillOpacity: 0.35 }; },
    function (p) { return table(T.anchor_col + ": " + p.anchor, [[T.area_km2, p.area_km2]]); }), true);
  add("isochrones", polygons("isochrones", "polygons",
    function (f) { return { color: f.properties.colour, fillColor: f.properties.colour, weight: 0, fillOpacity: 0.5 }; },
    function (p) { return table(p.label, []); }), false);
  add("gaps", polygons("gaps", "gaps",
    function (f) { return { color: DATA.colours.gap, fillColor: f.properties.colour, weight: 1, fillOpacity: 0.25 }; },
    function (p) { return table(p.label, [[T.area_km2, p.area_km2]]); }), true);
  add("agglomeration_zones", polygons("agglomeration_zones", "lines",
    function (f) { return { color: DATA.colours.core_zone, weight: f.properties.inner ? 2.5 : 2, dashArray: f.properties.inner ? null : "6 4", fill: false }; },
    function (p) { return table(T.core_col + ": " + p.core, [[T.zone, p.zone]]); }), false);
  add("districts", polygons("districts", "lines",
    function () { return { color: DATA.colours.district, weight: 1.5, fill: true, fillOpacity: 0 }; },
    function (p) { return table(p.name, []); }), true);

  // Settlements: one canvas circle each (fast for thousands); gaps larger, outlined black.
  var S = DATA.settlements;
  var classes = DATA.classes;
  var gapClass = classes.length - 2;
  var settlementLayer = L.layerGroup();
  var markers = [];
  // Abandoned villages (0 people) first, small and grey: drawn under the inhabited ones.
  var order = [];
  for (var o = 0; o < S.name.length; o++) if (S.abandoned[o]) order.push(o);
  for (var o2 = 0; o2 < S.name.length; o2++) if (!S.abandoned[o2]) order.push(o2);
  for (var n = 0; n < order.length; n++) {
    var i = order[n];
    var cls = S.cls[i];
    var isGap = cls >= gapClass && !S.abandoned[i];
    var marker = L.circleMarker([S.lat[i], S.lon[i]], S.abandoned[i] ? {
      renderer: renderers.points,
      pane: "points",
      radius: 2.5,
      weight: 0.5,
      color: "#757575",
      fillColor: "#bdbdbd",
      fillOpacity: 0.7,
    } : {
      renderer: renderers.points,
      pane: "points",
      radius: isGap ? 7 : 4,
      weight: isGap ? 2 : 1,
      color: isGap ? (cls === gapClass ? "#000000" : DATA.colours.gap) : "#ffffff",
      fillColor: classes[cls].colour,
      fillOpacity: 0.95,
    });
    marker.index = i;
    marker.bindPopup(function (layer) {
      var j = layer.index;
      return table(S.name[j], [
        [T.population, S.pop[j]],
        [T.district, S.district[j]],
        [T.anchor_col, S.anchor[j]],
        [T.anchor_time, S.anchor_min[j] === null ? T.unreachable : S.anchor_min[j]],
        [T.core_col, S.core[j]],
        [T.core_time, S.core_min[j] === null ? T.unreachable : S.core_min[j]],
        [T.access_class, S.access[j]],
      ]);
    });
    markers[i] = marker;
    settlementLayer.addLayer(marker);
  }
  add("settlements", settlementLayer, true);

  var anchorLayer = L.layerGroup();
  DATA.anchors.forEach(function (a) {
    var symbol = el("div", a.core ? "anchor core" : "anchor", a.core ? "◆" : "★");
    var m = L.marker([a.lat, a.lon], {
      icon: L.divIcon({ html: symbol, className: "anchor-icon", iconSize: [22, 22], iconAnchor: [11, 11] }),
      keyboard: false,
      zIndexOffset: a.core ? 1000 : 500,
    });
    m.bindTooltip(el("span", null, a.name), { permanent: a.core, direction: "right", offset: [8, 0] });
    m.bindPopup(function () {
      return table(a.name, [[a.core ? T.core : T.anchor, a.served]].concat(a.rows || []));
    });
    anchorLayer.addLayer(m);
  });
  add("anchors", anchorLayer, true);

  // Extra point and line layers (services, deserts, seasons, proposals, changes): generic specs
  // from Python. Layers sharing a `group` are exclusive: turning one on turns the others off.
  var groups = {};
  (DATA.extra || []).forEach(function (x) {
    var layer = L.layerGroup();
    var P = x.points;
    if (P) {
      for (var k = 0; k < P.lat.length; k++) {
        var m = L.circleMarker([P.lat[k], P.lon[k]], {
          renderer: renderers.points,
          pane: "points",
          radius: P.radius,
          weight: 1,
          color: P.stroke || "#333333",
          fillColor: Array.isArray(P.colour) ? P.colour[k] : P.colour,
          fillOpacity: 0.95,
        });
        m.index = k;
        m.bindPopup(function (marker) { return table(P.title[marker.index], P.rows[marker.index]); });
        layer.addLayer(m);
      }
    }
    (x.lines || []).forEach(function (line) {
      L.polyline([[line[0], line[1]], [line[2], line[3]]], {
        renderer: renderers.lines, pane: "lines", color: line[4], weight: 2, opacity: 0.8,
      }).addTo(layer);
    });
    layer.legendKey = x.key;
    overlays[x.key] = layer;
    DATA.names[x.key] = x.name;
    DATA.legends[x.key] = x.legend || [];
    DATA.order.splice(x.position === undefined ? DATA.order.length : x.position, 0, x.key);
    if (x.group) (groups[x.group] = groups[x.group] || []).push(layer);
    layer.group = x.group;
    if (x.visible) layer.addTo(map);
  });
  map.on("overlayadd", function (e) {
    if (!e.layer.group) return;
    groups[e.layer.group].forEach(function (other) {
      if (other !== e.layer && map.hasLayer(other)) map.removeLayer(other);
    });
  });

  // Layer control (names are ours, escaped in Python) and one legend block per visible layer.
  var named = {};
  // Leaflet inserts layer names as HTML: hand it our text already escaped by the DOM.
  DATA.order.forEach(function (key) { named[el("span", null, DATA.names[key]).outerHTML] = overlays[key]; });
  var base = {};
  base[T.basemap] = basemap;
  L.control.layers(base, named, { collapsed: false, position: "topright" }).addTo(map);

  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var box = el("div", "legend");
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };
  legend.addTo(map);
  function swatch(item) {
    var s = el("span", "swatch " + item.kind, item.kind === "symbol" ? item.symbol : "");
    if (item.kind !== "symbol") s.style.background = item.kind === "line" ? "transparent" : item.colour;
    if (item.kind === "line") s.style.borderTop = (item.dashed ? "2px dashed " : "3px solid ") + item.colour;
    if (item.outline) s.style.border = "2px solid " + item.outline;
    return s;
  }
  function drawLegend() {
    var box = legend.getContainer();
    box.textContent = "";
    DATA.order.forEach(function (key) {
      if (!map.hasLayer(overlays[key])) return;
      var block = el("div", "legend-block");
      block.dataset.layer = key;
      block.appendChild(el("div", "legend-title", DATA.names[key]));
      DATA.legends[key].forEach(function (item) {
        var row = el("div", "legend-row");
        row.appendChild(swatch(item));
        row.appendChild(el("span", null, item.label));
        block.appendChild(row);
      });
      box.appendChild(block);
    });
  }
  map.on("overlayadd overlayremove", drawLegend);
  drawLegend();

  // Search by settlement name: exact pick from the list, else the first name containing the text.
  var list = document.getElementById("settlement-names");
  S.name.forEach(function (n) { list.appendChild(el("option", null, n)); });
  var input = document.getElementById("search");
  input.placeholder = T.search;
  var status = document.getElementById("search-status");
  function find() {
    var q = input.value.trim().toLowerCase();
    if (!q) return;
    var j = S.name.findIndex(function (n) { return String(n).toLowerCase() === q; });
    if (j < 0) j = S.name.findIndex(function (n) { return String(n).toLowerCase().indexOf(q) >= 0; });
    status.textContent = j < 0 ? T.not_found : "";
    if (j < 0) return;
    if (!map.hasLayer(settlementLayer)) settlementLayer.addTo(map);
    map.setView([S.lat[j], S.lon[j]], Math.max(map.getZoom(), 11));
    markers[j].openPopup();
  }
  input.addEventListener("change", find);
  input.addEventListener("keydown", function (e) { if (e.key === "Enter") find(); });

  window.anchorMap = { map: map, overlays: overlays, settlements: markers, find: find };
})();
