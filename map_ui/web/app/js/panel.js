// The side panel: incident list (filter/sort), incident detail, warnings, districts, feeds.
// Lists are rebuilt with DOM calls at most a few times per second and show the first rows only:
// 5,000 incidents stay cheap, and everything user-supplied goes in as text.
import { $, el } from "./dom.js";
import { api } from "./auth.js";
import { incidentActions, incidentNotes, levelControl, may, renderJournal } from "./actions.js";
import { familyOf, SEVERITIES, SEVERITY_RANK } from "./store.js";
import { symbolElement, symbolKey } from "./symbols.js";
import {
  formatDistance, formatDuration, formatTime, label, levelLabel, t,
} from "./i18n.js";

const MAX_ROWS = 200;
const FAMILIES = ["fire", "flood", "accident", "rescue", "medical", "hazmat", "security", "infrastructure", "other"];

function severityBadge(severity) {
  return el("span", { class: `sev sev-${SEVERITIES.includes(severity) ? severity : "unknown"}`, text: label("severity", severity) });
}

export class Panel {
  constructor(ctx) {
    this.ctx = ctx;
    this.tab = "incidents";
    this.filters = { severity: "", family: "", district: "", agency: "", status: "", sort: "severity" };
    this.detailId = null;
    this.detailToken = 0;
    for (const button of document.querySelectorAll(".tab")) {
      button.addEventListener("click", () => this.showTab(button.dataset.tab));
    }
    this.buildFilters();
  }

  showTab(name) {
    this.tab = name;
    for (const button of document.querySelectorAll(".tab")) {
      button.classList.toggle("active", button.dataset.tab === name);
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const body of document.querySelectorAll(".tab-body")) body.hidden = body.id !== `tab-${name}`;
    this.closeDetail();
    this.render();
    this.ctx.onTab?.(name);
  }

  // -- filters -----------------------------------------------------------------------------------

  buildFilters() {
    const box = $("incident-filters");
    const select = (name, options) => {
      const node = el("select", { "aria-label": name, dataset: { filter: name } },
        options.map(([value, text]) => el("option", { value, text })));
      node.value = this.filters[name];
      node.addEventListener("change", () => {
        this.filters[name] = node.value;
        this.render();
      });
      return node;
    };
    const picture = this.ctx.picture();
    const districts = [...picture.districts.values()].sort((a, b) => a.name.localeCompare(b.name));
    const agencies = new Set();
    for (const incident of picture.incidents.values()) for (const a of incident.agencies ?? []) agencies.add(a);
    box.replaceChildren(
      select("severity", [["", t("filter.all.severity")], ...SEVERITIES.map((s) => [s, label("severity", s)])]),
      select("family", [["", t("filter.all.family")], ...FAMILIES.map((f) => [f, label("family", f)])]),
      select("district", [["", t("filter.all.district")], ...districts.map((d) => [d.ags, d.name])]),
      select("agency", [["", t("filter.all.agency")], ...[...agencies].sort().map((a) => [a, a])]),
      select("status", [["", t("filter.all.status")], ["open", label("status", "open")], ["resolved", label("status", "resolved")]]),
      select("sort", [["severity", t("sort.severity")], ["newest", t("sort.newest")], ["district", t("sort.district")]]),
    );
    this.agencyCount = agencies.size;
  }

  // -- lists -------------------------------------------------------------------------------------

  render() {
    // lists stay current under an open detail (it is an overlay)
    if (this.tab === "incidents") this.renderIncidents();
    else if (this.tab === "warnings") this.renderWarnings();
    else if (this.tab === "districts") this.renderDistricts();
  }

  renderJournal() {
    return renderJournal($("journal-list"));
  }

  filteredIncidents() {
    const f = this.filters;
    const rows = [];
    for (const incident of this.ctx.picture().incidents.values()) {
      if (f.severity && incident.severity !== f.severity) continue;
      if (f.family && familyOf(incident.category) !== f.family) continue;
      if (f.district && incident.district !== f.district) continue;
      if (f.agency && !(incident.agencies ?? []).includes(f.agency)) continue;
      if (f.status && incident.status !== f.status) continue;
      rows.push(incident);
    }
    const bySeverity = (a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9);
    const byNewest = (a, b) => (a.last_seen < b.last_seen ? 1 : a.last_seen > b.last_seen ? -1 : 0);
    if (f.sort === "newest") rows.sort(byNewest);
    else if (f.sort === "district") {
      rows.sort((a, b) => this.ctx.districtName(a.district).localeCompare(this.ctx.districtName(b.district))
        || bySeverity(a, b) || byNewest(a, b));
    } else rows.sort((a, b) => bySeverity(a, b) || byNewest(a, b));
    return rows;
  }

  renderIncidents() {
    const picture = this.ctx.picture();
    const rows = this.filteredIncidents();
    const now = Date.parse(picture.asOf ?? "") || Date.now();
    const alerting = this.ctx.alerting();
    const items = rows.slice(0, MAX_ROWS).map((incident) => {
      const item = el("li", {
        dataset: { id: incident.id },
        class: [incident.id === this.ctx.selected() ? "selected" : "", alerting.has(incident.id) ? "alerting" : ""].join(" ").trim(),
        onclick: () => this.ctx.selectIncident(incident.id),
      },
      el("span", { class: "row-icon" }, symbolElement(symbolKey(incident))),
      el("span", { class: "row-title", text: incident.title ?? incident.category }),
      severityBadge(incident.severity),
      el("span", {
        class: "row-sub",
        text: [
          this.ctx.districtName(incident.district),
          label("family", familyOf(incident.category)),
          (incident.agencies ?? []).join(", "),
          label("status", incident.status),
          formatDuration((now - Date.parse(incident.first_seen)) / 1000),
        ].filter(Boolean).join(" · "),
      }));
      return item;
    });
    $("incident-count").textContent = t("list.count", { shown: Math.min(rows.length, MAX_ROWS), total: rows.length });
    $("incident-list").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: t("list.empty") })]));
  }

  renderWarnings() {
    const warnings = [...this.ctx.picture().warnings.values()].sort(
      (a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || String(a.onset).localeCompare(String(b.onset)),
    );
    $("warning-count").textContent = t("list.warnings", { total: warnings.length });
    $("warning-list").replaceChildren(...warnings.slice(0, MAX_ROWS).map((warning) => el("li", {
      dataset: { id: warning.id },
      onclick: () => this.showWarning(warning),
    },
    el("span", { class: "row-icon" }),
    el("span", { class: "row-title", text: warning.headline ?? warning.event ?? warning.category }),
    severityBadge(warning.severity),
    el("span", {
      class: "row-sub",
      text: [
        `${formatTime(warning.onset, true)} – ${formatTime(warning.expires, true)}`,
        (warning.districts ?? []).map((ags) => this.ctx.districtName(ags)).join(", "),
      ].join(" · "),
    }))));
  }

  renderDistricts() {
    const districts = [...this.ctx.picture().districts.values()].sort(
      (a, b) => (b.level ?? 0) - (a.level ?? 0) || a.name.localeCompare(b.name),
    );
    $("district-list").replaceChildren(...districts.map((district) => {
      const open = Object.values(district.open_incidents ?? {}).reduce((x, y) => x + y, 0);
      return el("li", { dataset: { ags: district.ags }, onclick: () => this.ctx.focusDistrict(district.ags) },
        el("span", { class: `lvl lvl-${district.level ?? 0}`, text: String(district.level ?? 0) }),
        el("span", { class: "row-title", text: district.name }),
        el("span", { class: "row-icu", text: `${t("district.icu")}: ${district.icu_beds_free ?? "–"}` }),
        may(this.ctx.role(), "operator") ? levelControl(district) : null,
        el("span", {
          class: "row-sub",
          text: [
            levelLabel(district.level ?? 0),
            t("district.incidents", { n: open }),
            t("district.warnings", { n: (district.warnings ?? []).length }),
          ].join(" · "),
        }));
    }));
  }

  renderFeeds(feeds) {
    const list = $("feed-list");
    if (!feeds.length) {
      list.replaceChildren(el("li", { class: "empty", text: t("feeds.none") }));
      return;
    }
    list.replaceChildren(...feeds.map((feed) => {
      const failing = feed.error && (!feed.last_success || feed.last_error > feed.last_success);
      return el("li", {},
        el("span", { class: failing ? "feed-error" : "feed-ok", text: failing ? "●" : "●" }),
        el("span", { class: "row-title", text: feed.feed }),
        el("span", { text: t("feeds.items", { n: feed.items ?? 0 }) }),
        el("span", {
          class: "row-sub",
          text: failing ? `${formatTime(feed.last_error, true)}: ${feed.error}`
            : `${t("feeds.ok")} · ${formatTime(feed.last_success ?? feed.updated_at, true)}`,
        }));
    }));
  }

  // -- detail ------------------------------------------------------------------------------------

  closeDetail() {
    this.detailId = null;
    $("detail").hidden = true;
  }

  showWarning(warning) {
    this.ctx.focusWarning(warning.id);
    this.detailId = `warning:${warning.id}`;
    const box = $("detail");
    box.hidden = false;
    box.replaceChildren(
      el("button", { type: "button", class: "tool", text: t("detail.back"), onclick: () => { this.closeDetail(); this.render(); } }),
      el("h2", { text: warning.headline ?? warning.category }),
      el("dl", {},
        el("dt", { text: t("detail.category") }), el("dd", {}, severityBadge(warning.severity), " ", warning.event ?? warning.category),
        el("dt", { text: t("detail.onset") }), el("dd", { text: formatTime(warning.onset, true) }),
        el("dt", { text: t("detail.expires") }), el("dd", { text: formatTime(warning.expires, true) }),
        el("dt", { text: t("detail.agencies") }), el("dd", { text: warning.agency ?? label("source", warning.source) }),
        el("dt", { text: t("detail.districts") }),
        el("dd", { text: (warning.districts ?? []).map((ags) => this.ctx.districtName(ags)).join(", ") || "–" })),
      warning.description ? el("h3", { text: t("detail.description") }) : null,
      warning.description ? el("p", { class: "report-text", text: warning.description }) : null,
    );
  }

  async showIncident(id) {
    this.detailId = id;
    const token = ++this.detailToken;
    const box = $("detail");
    box.hidden = false;
    const back = el("button", { type: "button", class: "tool", text: t("detail.back"), onclick: () => this.ctx.selectIncident(null) });
    const view = this.ctx.picture().incidents.get(id);
    box.replaceChildren(back, el("h2", { text: view?.title ?? id }), el("p", { text: t("detail.loading") }));
    let detail = null;
    try {
      const response = await api(`/api/v1/incidents/${encodeURIComponent(id)}`);
      if (response.ok) detail = await response.json();
    } catch {
      detail = null;
    }
    if (token !== this.detailToken) return;
    const incident = view ?? detail?.incident;
    if (!incident) {
      box.replaceChildren(back, el("h2", { text: id }), el("p", { text: t("detail.gone") }));
      return;
    }
    const metrics = Object.entries(incident.metrics ?? {}).filter(([, n]) => n > 0)
      .map(([name, n]) => `${n} ${label("metric", name)}`).join(", ");
    const links = new Map((incident.links ?? []).map((link) => [link.thread, link]));
    box.replaceChildren(
      back,
      el("h2", { text: incident.title ?? incident.category }),
      el("dl", {},
        el("dt", { text: t("detail.category") }),
        el("dd", {}, severityBadge(incident.severity), " ", `${label("family", familyOf(incident.category))} (${incident.category})`),
        el("dt", { text: t("detail.status") }), el("dd", { text: label("status", incident.status) + (detail && !detail.live ? ` – ${t("detail.gone")}` : "") }),
        el("dt", { text: t("detail.district") }), el("dd", { text: this.ctx.districtName(incident.district) }),
        el("dt", { text: t("detail.first") }), el("dd", { text: formatTime(incident.first_seen, true) }),
        el("dt", { text: t("detail.last") }), el("dd", { text: formatTime(incident.last_seen, true) }),
        el("dt", { text: t("detail.agencies") }), el("dd", { text: (incident.agencies ?? []).join(", ") || "–" }),
        metrics ? el("dt", { text: t("detail.metrics") }) : null, metrics ? el("dd", { text: metrics }) : null),
      incidentNotes(incident),
      may(this.ctx.role(), "operator") && detail?.live !== false
        ? incidentActions(incident, { onDone: () => setTimeout(() => this.showIncident(id), 300) })
        : null,
      el("h3", { text: t("detail.reports") }),
      ...(detail?.reports ?? []).map((entry) => this.reportCard(entry, links.get(entry.thread) ?? entry.link)),
      el("h3", { text: t("detail.timeline") }),
      el("ol", { class: "timeline" }, ...(detail?.timeline ?? []).map((step) => el("li", {},
        el("time", { text: formatTime(step.at, true) }),
        `${label("change", step.type)}${step.reason ? ` (${label("reason", step.reason)})` : ""}${step.thread ? ` – ${step.thread}` : ""}`,
        step.severity ? " " : null, step.severity ? severityBadge(step.severity) : null))),
    );
  }

  reportCard(entry, link) {
    const report = entry.report ?? {};
    const linkText = !link ? "" : link.distance_m === null || link.distance_m === undefined || link.reason === "opened"
      ? t("detail.link.first")
      : t("detail.link", {
        distance: formatDistance(link.distance_m),
        gap: formatDuration(link.time_gap_s ?? 0),
        reason: label("reason", link.reason),
      });
    return el("div", { class: "report" },
      el("div", { class: "report-head" },
        el("span", { class: "report-agency", text: report.agency ?? link?.agency ?? label("source", report.source ?? link?.source) }),
        el("span", { text: label("source", report.source ?? link?.source) }),
        report.severity ? severityBadge(report.severity) : null,
        el("span", { class: "report-link", text: formatTime(report.observed_at, true) })),
      el("div", { class: "report-text", text: report.headline ?? entry.thread }),
      report.description ? el("div", { class: "report-text", text: report.description }) : null,
      el("div", { class: "report-link", text: `${entry.thread} · ${report.category ?? ""} · #${report.sequence ?? "?"}${linkText ? ` · ${linkText}` : ""}` }),
    );
  }
}
