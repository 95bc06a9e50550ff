// Lagezentrum situation report: the layers of the interactive map, built from the report's
// GeoJSON. The $$names are filled in by situation_api/reports/html.py (string.Template).
(function (map, data, words) {
  var sev = $severity;
  var lvl = $levels;
  function esc(text) {
    return String(text).replace(/[<&]/g, function (c) { return c === "<" ? "&lt;" : "&amp;"; });
  }
  function tip(p) {
    return Object.keys(p)
      .filter(function (k) { return k !== "layer" && p[k] !== null && p[k] !== ""; })
      .map(function (k) { return "<b>" + esc(k) + "</b>: " + esc(p[k]); })
      .join("<br>");
  }
  function pick(kind) {
    return {
      type: "FeatureCollection",
      features: data.features.filter(function (f) {
        return f.properties.layer === kind && f.geometry;
      }),
    };
  }
  function tooltip(f, layer) { layer.bindTooltip(tip(f.properties), { sticky: true }); }
  var districts = L.geoJSON(pick("district"), {
    style: function (f) {
      return { color: "#555", weight: 1, fillOpacity: 0.55,
               fillColor: lvl[Math.min(f.properties.level, 3)] };
    },
    onEachFeature: tooltip,
  }).addTo(map);
  var warnings = L.geoJSON(pick("warning"), {
    style: function () {
      return { color: "$wstroke", weight: 1.5, dashArray: "4 3", fillColor: "$wfill",
               fillOpacity: 0.15 };
    },
    onEachFeature: tooltip,
  }).addTo(map);
  var incidents = L.geoJSON(pick("incident"), {
    pointToLayer: function (f, latlng) {
      var open = f.properties.status === "open";
      return L.circleMarker(latlng, {
        radius: open ? 5 : 3, weight: open ? 1 : 0, color: "#222",
        fillColor: sev[f.properties.severity] || "#969696", fillOpacity: open ? 0.9 : 0.5,
      });
    },
    onEachFeature: function (f, layer) { layer.bindPopup(tip(f.properties)); },
  }).addTo(map);
  var layers = {};
  layers[words[0]] = districts;
  layers[words[1]] = warnings;
  layers[words[2]] = incidents;
  L.control.layers(null, layers, { collapsed: false }).addTo(map);
  // In an iframe the map may have no size yet when this runs: fit again once laid out.
  function fit() {
    map.invalidateSize();
    if (districts.getLayers().length) { map.fitBounds(districts.getBounds()); }
  }
  fit();
  window.addEventListener("load", fit);
})($map, $data, $words);
