// The map: bundled RLP outlines (never blank, even without tiles), districts shaded by escalation
// level, warnings as severity-coloured polygons, incidents as DV 102 symbols in clusters.
//
// Performance: polygons go to canvas renderers; markers to one MarkerClusterGroup with chunked
// loading; changes are applied per entity (a moved or re-coloured incident touches one marker,
// never the whole layer). Only markers in view get DOM icons (markercluster's own culling).
import { el } from "./dom.js";
import { SEVERITY_RANK, SEVERITIES } from "./store.js";
import { symbolElement, symbolKey, symbolSize } from "./symbols.js";
import { t, label, levelLabel } from "./i18n.js";

const L = window.L;
const RLP_BOUNDS = [[48.96, 6.11], [50.95, 8.52]];
export const SEVERITY_COLOURS = {
  extreme: "#8b0000", severe: "#e3261b", moderate: "#f08c00", minor: "#d4b000", unknown: "#7a7a7a",
};
const LEVEL_FILL = ["#3a4f66", "#f2d024", "#f08c00", "#c3001a"];
const LEVEL_OPACITY = [0.03, 0.25, 0.33, 0.42];
const MARKER_HEIGHT = 26;
const MUNICIPALITY_ZOOM = 10;

// An icon whose element is built with DOM calls (no HTML strings).
const DomIcon = L.Icon.extend({
  createIcon(oldIcon) {
    const node = this.options.build();
    this._setIconStyles(node, "icon");
    if (oldIcon && oldIcon.parentNode) oldIcon.parentNode.replaceChild(node, oldIcon);
    return node;
  },
  createShadow() {
    return null;
  },
});

function signature(view) {
  return `${view.severity}|${view.category}|${view.status}|${view.title}`;
}

function worstRank(markers) {
  let rank = SEVERITIES.length - 1;
  for (const marker of markers) {
    const r = marker.lz.rank;
    if (r < rank) rank = r;
    if (rank === 0) break;
  }
  return rank;
}

export class SituationMap {
  constructor(container, { tileUrl, tileAttribution, outlineAttribution, onSelectIncident, onSelectDistrict }) {
    this.onSelectIncident = onSelectIncident;
    this.onSelectDistrict = onSelectDistrict;
    this.markers = new Map();
    this.warningLayers = new Map();
    this.districtLayers = new Map();
    this.districtNames = new Map();
    this.alerting = new Set();
    this.selected = null;
    this.map = L.map(container, {
      preferCanvas: true,
      minZoom: 6,
      maxZoom: 18,
      zoomSnap: 0.25,
      worldCopyJump: false,
      attributionControl: true,
    });
    this.map.attributionControl.setPrefix(false);
    // room for the Lagefilm bar at the bottom
    this.map.fitBounds(RLP_BOUNDS, { paddingTopLeft: [10, 10], paddingBottomRight: [10, 60] });
    for (const [name, z] of [["lz-districts", 350], ["lz-warnings", 370], ["lz-outlines", 390]]) {
      const pane = this.map.createPane(name);
      pane.style.zIndex = String(z);
    }
    this.map.getPane("lz-outlines").style.pointerEvents = "none";
    this.districtRenderer = L.canvas({ pane: "lz-districts", padding: 0.2 });
    this.warningRenderer = L.canvas({ pane: "lz-warnings", padding: 0.2 });
    this.outlineRenderer = L.canvas({ pane: "lz-outlines", padding: 0.2 });
    if (tileUrl) {
      // Tiles are optional: when they cannot be loaded the outlines below still show the state.
      L.tileLayer(tileUrl, { attribution: tileAttribution ?? "", maxZoom: 19, crossOrigin: false })
        .addTo(this.map);
    }
    this.map.attributionControl.addAttribution(outlineAttribution);
    this.cluster = L.markerClusterGroup({
      chunkedLoading: true,
      chunkInterval: 120,
      chunkDelay: 8,
      chunkProgress: (done, total) => {
        if (done === total) this.loaded = performance.now();
      },
      showCoverageOnHover: false,
      animateAddingMarkers: false,
      removeOutsideVisibleBounds: true,
      maxClusterRadius: 55,
      iconCreateFunction: (cluster) => this.clusterIcon(cluster),
    });
    this.cluster.addTo(this.map);
    this.municipalities = null;
    this.map.on("zoomend", () => this.updateMunicipalities());
  }

  async loadOutlines() {
    const [districts, municipalities] = await Promise.all([
      fetch("/api/v1/geo/districts").then((r) => r.json()),
      fetch("/api/v1/geo/municipalities").then((r) => r.json()),
    ]);
    this.districtGeo = new Map();
    L.geoJSON(districts, {
      renderer: this.districtRenderer,
      pane: "lz-districts",
      style: () => this.districtStyle(0),
      onEachFeature: (feature, layer) => {
        const ags = feature.properties.ags;
        this.districtLayers.set(ags, layer);
        this.districtNames.set(ags, feature.properties.name);
        this.districtGeo.set(ags, feature.geometry);
        layer.bindTooltip(el("span", { text: feature.properties.name }), { sticky: true });
        layer.on("click", () => this.onSelectDistrict?.(ags));
      },
    }).addTo(this.map);
    this.municipalities = L.geoJSON(municipalities, {
      renderer: this.outlineRenderer,
      pane: "lz-outlines",
      interactive: false,
      style: () => ({ color: "#5b738c", weight: 0.6, opacity: 0.7, fill: false }),
    });
    this.updateMunicipalities();
  }

  updateMunicipalities() {
    if (!this.municipalities) return;
    const show = this.map.getZoom() >= MUNICIPALITY_ZOOM;
    if (show && !this.map.hasLayer(this.municipalities)) this.municipalities.addTo(this.map);
    if (!show && this.map.hasLayer(this.municipalities)) this.map.removeLayer(this.municipalities);
  }

  districtName(ags) {
    return this.districtNames.get(ags) ?? ags ?? "–";
  }

  // -- districts ---------------------------------------------------------------------------------

  districtStyle(level) {
    return {
      color: "#14365f",
      weight: level >= 2 ? 2.5 : 1.4,
      opacity: 0.9,
      fillColor: LEVEL_FILL[level] ?? LEVEL_FILL[0],
      fillOpacity: LEVEL_OPACITY[level] ?? LEVEL_OPACITY[0],
    };
  }

  setDistrict(ags, view) {
    const layer = this.districtLayers.get(ags);
    if (!layer) return;
    const level = view ? view.level ?? 0 : 0;
    if (layer.lzLevel !== level) {
      layer.lzLevel = level;
      layer.setStyle(this.districtStyle(level));
    }
  }

  focusDistrict(ags) {
    const layer = this.districtLayers.get(ags);
    if (layer) this.map.fitBounds(layer.getBounds(), { maxZoom: 11 });
  }

  // -- warnings ----------------------------------------------------------------------------------

  warningStyle(severity) {
    const colour = SEVERITY_COLOURS[severity] ?? SEVERITY_COLOURS.unknown;
    return { color: colour, weight: 2, opacity: 0.9, dashArray: "6 4", fillColor: colour, fillOpacity: 0.12 };
  }

  setWarning(id, view) {
    const old = this.warningLayers.get(id);
    if (old && view && old.lzSig === `${view.severity}|${view.updated}|${view.headline}`) return;
    if (old) {
      this.map.removeLayer(old);
      this.warningLayers.delete(id);
    }
    if (!view) return;
    const geometry = view.geometry ?? this.districtUnion(view.districts ?? []);
    if (!geometry) return;
    const layer = L.geoJSON(geometry, {
      renderer: this.warningRenderer,
      pane: "lz-warnings",
      style: () => this.warningStyle(view.severity),
    });
    layer.lzSig = `${view.severity}|${view.updated}|${view.headline}`;
    layer.bindTooltip(el("span", { text: `${label("severity", view.severity)}: ${view.headline ?? view.category}` }),
      { sticky: true });
    layer.addTo(this.map);
    this.warningLayers.set(id, layer);
    if (SEVERITY_RANK[view.severity] <= 1) layer.bringToFront();
  }

  districtUnion(codes) {
    const polygons = [];
    for (const ags of codes) {
      const geometry = this.districtGeo?.get(ags);
      if (!geometry) continue;
      if (geometry.type === "Polygon") polygons.push(geometry.coordinates);
      else if (geometry.type === "MultiPolygon") polygons.push(...geometry.coordinates);
    }
    return polygons.length ? { type: "MultiPolygon", coordinates: polygons } : null;
  }

  focusWarning(id) {
    const layer = this.warningLayers.get(id);
    if (layer) this.map.fitBounds(layer.getBounds(), { maxZoom: 11 });
  }

  // -- incidents ---------------------------------------------------------------------------------

  clusterIcon(cluster) {
    const count = cluster.getChildCount();
    const rank = worstRank(cluster.getAllChildMarkers());
    const size = count < 10 ? 34 : count < 100 ? 40 : count < 1000 ? 48 : 56;
    return new DomIcon({
      iconSize: [size, size],
      iconAnchor: [size / 2, size / 2],
      className: `lz-cluster sev-${SEVERITIES[rank]}`,
      build: () => el("div", { dataset: { count: String(count) } }, String(count)),
    });
  }

  markerIcon(view) {
    const key = symbolKey(view);
    const [w, h] = symbolSize(key);
    const width = Math.round((MARKER_HEIGHT * w) / h) + 6;
    const classes = ["lz-marker", `sev-${view.severity}`];
    if (view.status === "resolved") classes.push("resolved");
    if (this.alerting.has(view.id)) classes.push("alerting");
    if (this.selected === view.id) classes.push("selected");
    return new DomIcon({
      iconSize: [width, MARKER_HEIGHT + 6],
      iconAnchor: [width / 2, (MARKER_HEIGHT + 6) / 2],
      className: classes.join(" "),
      build: () => el("div", { dataset: { id: view.id } }, symbolElement(key)),
    });
  }

  makeMarker(view) {
    const marker = L.marker([view.centroid[1], view.centroid[0]], {
      icon: this.markerIcon(view),
      title: view.title ?? "",
      keyboard: false,
    });
    marker.lz = { id: view.id, sig: signature(view), rank: SEVERITY_RANK[view.severity] ?? 4 };
    marker.on("click", () => this.onSelectIncident?.(view.id));
    return marker;
  }

  /** Apply incident views (upserts) and removals; touches only the markers concerned. */
  applyIncidents(upserts, removals) {
    const toAdd = [];
    const toRemove = [];
    const refresh = [];
    for (const id of removals) {
      const marker = this.markers.get(id);
      if (marker) {
        toRemove.push(marker);
        this.markers.delete(id);
      }
    }
    for (const view of upserts) {
      const marker = this.markers.get(view.id);
      if (!Array.isArray(view.centroid)) {
        if (marker) {
          toRemove.push(marker);
          this.markers.delete(view.id);
        }
        continue;
      }
      if (!marker) {
        const created = this.makeMarker(view);
        this.markers.set(view.id, created);
        toAdd.push(created);
        continue;
      }
      const position = marker.getLatLng();
      if (position.lat !== view.centroid[1] || position.lng !== view.centroid[0]) {
        marker.setLatLng([view.centroid[1], view.centroid[0]]);
      }
      const sig = signature(view);
      if (sig !== marker.lz.sig) {
        const rank = SEVERITY_RANK[view.severity] ?? 4;
        const rankChanged = rank !== marker.lz.rank;
        marker.lz.sig = sig;
        marker.lz.rank = rank;
        marker.options.title = view.title ?? "";
        marker.setIcon(this.markerIcon(view));
        if (rankChanged) refresh.push(marker);
      }
      marker.lzView = view;
    }
    if (toRemove.length) this.cluster.removeLayers(toRemove);
    if (toAdd.length) this.cluster.addLayers(toAdd);
    if (refresh.length) this.cluster.refreshClusters(refresh);
  }

  /** Show a whole picture (live or from history): a diff against what is on the map. */
  showPicture(picture) {
    const removals = [];
    for (const id of this.markers.keys()) if (!picture.incidents.has(id)) removals.push(id);
    this.applyIncidents([...picture.incidents.values()], removals);
    for (const id of [...this.warningLayers.keys()]) if (!picture.warnings.has(id)) this.setWarning(id, null);
    for (const [id, view] of picture.warnings) this.setWarning(id, view);
    for (const ags of this.districtLayers.keys()) this.setDistrict(ags, picture.districts.get(ags));
  }

  refreshMarker(id, view) {
    const marker = this.markers.get(id);
    if (marker && view) marker.setIcon(this.markerIcon(view));
  }

  setAlerting(ids, picture) {
    const changed = new Set([...ids, ...this.alerting].filter((id) => ids.has(id) !== this.alerting.has(id)));
    this.alerting = new Set(ids);
    for (const id of changed) this.refreshMarker(id, picture.incidents.get(id));
  }

  select(id, picture) {
    const previous = this.selected;
    this.selected = id;
    if (previous) this.refreshMarker(previous, picture.incidents.get(previous));
    const marker = id ? this.markers.get(id) : null;
    if (marker) {
      this.refreshMarker(id, picture.incidents.get(id));
      this.cluster.zoomToShowLayer(marker, () => {});
    }
  }

  /** Sum of what the clusters and single markers on screen stand for (for tests and checks). */
  renderedCount() {
    let total = 0;
    for (const node of this.map.getContainer().querySelectorAll(".lz-cluster")) {
      total += Number(node.dataset.count ?? 0);
    }
    total += this.map.getContainer().querySelectorAll(".lz-marker").length;
    return total;
  }

  legend(container) {
    container.replaceChildren(
      el("strong", { text: t("legend.levels") }),
      ...[0, 1, 2, 3].map((level) =>
        el("div", {}, el("span", { class: "swatch", style: { background: LEVEL_FILL[level] } }), `${level} ${levelLabel(level)}`)),
      el("strong", { text: t("legend.warning") }),
      ...["extreme", "severe", "moderate", "minor"].map((severity) =>
        el("div", {}, el("span", { class: "swatch", style: { border: `2px dashed ${SEVERITY_COLOURS[severity]}` } }),
          label("severity", severity))),
    );
  }
}
