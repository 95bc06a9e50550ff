// Two small charts in the overview tab: open incidents by severity over the last 24 hours, and
// reported free ICU beds over the same time. The past comes from the history API (the picture at
// each full hour), loaded the first time the tab is shown; the present is sampled live.
import uPlot from "/assets/vendor/uplot/uPlot.esm.js";
import { api } from "./auth.js";
import { Picture } from "./store.js";
import { label, t } from "./i18n.js";
import { SEVERITY_COLOURS } from "./map.js";

const HOURS = 24;
const SAMPLE_MS = 60_000;
const SHOWN = ["extreme", "severe", "moderate", "minor"];

export class Charts {
  constructor(incidentBox, capacityBox) {
    this.incidentBox = incidentBox;
    this.capacityBox = capacityBox;
    this.points = []; // [seconds, extreme, severe, moderate, minor, icu]
    this.loaded = false;
    this.visible = false;
    this.plots = null;
    this.lastSample = 0;
  }

  static point(seconds, picture) {
    const counts = picture.openBySeverity();
    return [seconds, ...SHOWN.map((s) => counts[s]), picture.icuBedsFree()];
  }

  async loadHistory() {
    if (this.loaded) return;
    this.loaded = true;
    const now = Date.now();
    const past = [];
    for (let hours = HOURS; hours >= 1; hours -= 1) {
      const at = new Date(Math.floor(now / 3_600_000) * 3_600_000 - (hours - 1) * 3_600_000);
      try {
        const response = await api(`/api/v1/situation?at=${encodeURIComponent(at.toISOString())}`);
        if (!response.ok) continue;
        past.push(Charts.point(at.getTime() / 1000, new Picture(await response.json())));
      } catch {
        // a missing hour leaves a gap, nothing worse
      }
    }
    this.points = [...past, ...this.points.filter((p) => p[0] > (past.at(-1)?.[0] ?? 0))];
    this.draw(true);
  }

  /** Record the live picture (a new point per minute; the latest point follows the picture). */
  sample(picture) {
    const now = Date.now();
    const point = Charts.point(now / 1000, picture);
    if (this.points.length && now - this.lastSample < SAMPLE_MS) this.points[this.points.length - 1] = point;
    else {
      this.points.push(point);
      this.lastSample = now;
      const horizon = now / 1000 - HOURS * 3600;
      while (this.points.length && this.points[0][0] < horizon) this.points.shift();
    }
    if (this.visible) this.draw(false);
  }

  show() {
    this.visible = true;
    this.loadHistory();
    this.draw(true);
  }

  hide() {
    this.visible = false;
  }

  columns(index) {
    return [this.points.map((p) => p[0]), ...index.map((i) => this.points.map((p) => p[i]))];
  }

  draw(rebuild) {
    if (!this.visible || this.incidentBox.clientWidth === 0) return;
    const incidentData = this.columns([1, 2, 3, 4]);
    const capacityData = this.columns([5]);
    if (this.plots && !rebuild) {
      this.plots[0].setData(incidentData);
      this.plots[1].setData(capacityData);
      return;
    }
    this.plots?.forEach((plot) => plot.destroy());
    const width = this.incidentBox.clientWidth;
    const axes = [
      { stroke: "#9fb3c8", grid: { stroke: "#22384f" }, ticks: { stroke: "#22384f" } },
      { stroke: "#9fb3c8", grid: { stroke: "#22384f" }, ticks: { stroke: "#22384f" } },
    ];
    this.plots = [
      new uPlot({
        width, height: 150, axes, legend: { show: true },
        series: [{}, ...SHOWN.map((s) => ({ label: label("severity", s), stroke: SEVERITY_COLOURS[s], width: 2 }))],
      }, incidentData, this.incidentBox),
      new uPlot({
        width, height: 130, axes, legend: { show: true },
        series: [{}, { label: t("chart.capacity"), stroke: "#4aa3ff", width: 2, spanGaps: true }],
      }, capacityData, this.capacityBox),
    ];
  }
}
