// German by default, English switchable (?lang=en or the DE/EN button; remembered per browser).

const STRINGS = {
  de: {
    "app.title": "Lagezentrum",
    "conn.live": "Live",
    "conn.connecting": "Verbinde …",
    "conn.offline": "Verbindung getrennt – neuer Versuch in {s} s",
    "age.label": "Lagebild {time}",
    "age.ago": "(vor {age})",
    "tab.incidents": "Einsätze",
    "tab.warnings": "Warnungen",
    "tab.districts": "Kreise",
    "tab.overview": "Übersicht",
    "tab.journal": "Journal",
    "login.title": "Anmeldung",
    "login.token": "Zugangstoken",
    "login.submit": "Anmelden",
    "login.refused": "Token unbekannt oder widerrufen",
    "login.expired": "Token nicht mehr gültig – bitte neu anmelden",
    "login.logout": "Abmelden",
    "action.title": "Maßnahmen",
    "action.done": "Erledigt – im Journal vermerkt",
    "action.acknowledge": "Zur Kenntnis genommen",
    "action.acknowledged": "Zur Kenntnis genommen von {by}, {at}",
    "action.status.open": "Wieder öffnen",
    "action.status.resolved": "Erledigt",
    "action.status.closed": "Schließen",
    "action.note": "Notiz",
    "action.note.placeholder": "Notiz …",
    "action.merge": "Einsatz hierher zusammenführen",
    "action.split": "{thread} abtrennen",
    "action.level": "Erklärte Stufe",
    "action.level.rules": "Regel",
    "filter.all.severity": "Alle Schweregrade",
    "filter.all.family": "Alle Arten",
    "filter.all.district": "Alle Kreise",
    "filter.all.agency": "Alle Behörden",
    "filter.all.status": "Alle Status",
    "sort.severity": "Sortierung: Schwere",
    "sort.newest": "Sortierung: neueste",
    "sort.district": "Sortierung: Kreis",
    "list.count": "{shown} von {total} Einsätzen",
    "list.warnings": "{total} Warnungen",
    "list.empty": "Keine Einträge",
    "chart.incidents": "Offene Einsätze nach Schwere (24 h)",
    "chart.capacity": "Freie Intensivbetten (gemeldet)",
    "feeds.title": "Zustand der Zuläufe",
    "feeds.none": "Keine Zuläufe gemeldet",
    "feeds.ok": "in Ordnung",
    "feeds.items": "{n} Meldungen",
    "detail.back": "← Zurück",
    "detail.reports": "Meldungen der Behörden",
    "detail.timeline": "Verlauf",
    "detail.loading": "Lade …",
    "detail.gone": "Nicht mehr im Lagebild",
    "detail.category": "Art",
    "detail.status": "Status",
    "detail.district": "Kreis",
    "detail.first": "Erstmeldung",
    "detail.last": "Letzte Meldung",
    "detail.agencies": "Behörden",
    "detail.metrics": "Lage",
    "detail.warnings": "Warnungen",
    "detail.link.first": "eröffnet den Einsatz",
    "detail.link": "verknüpft: {distance} Abstand, {gap} Zeitabstand ({reason})",
    "detail.onset": "Beginn",
    "detail.expires": "Ende",
    "detail.districts": "Kreise",
    "detail.description": "Beschreibung",
    "district.level": "Stufe",
    "district.icu": "ITS frei",
    "district.warnings": "{n} Warnungen",
    "district.incidents": "{n} offene Einsätze",
    "alert.ack": "Quittieren",
    "alert.ackAll": "Alle quittieren",
    "alert.newIncident": "Neuer Einsatz ({severity}): {title}",
    "alert.rose": "Schwere erhöht ({severity}): {title}",
    "alert.level": "{district}: Stufe {old} → {new} ({label})",
    "sound.on": "Ton an",
    "sound.off": "Ton aus",
    "film.play": "▶ Lagefilm",
    "film.pause": "❚❚ Pause",
    "film.live": "Live",
    "film.banner": "Lagefilm: Lagebild vom {time} (nicht live)",
    "legend.levels": "Eskalationsstufe",
    "legend.warning": "Warnung",
    "unit.m": "{n} m",
    "unit.km": "{n} km",
    "unit.s": "{n} s",
    "unit.min": "{n} min",
    "unit.h": "{n} h",
  },
  en: {
    "app.title": "Situation Centre",
    "conn.live": "Live",
    "conn.connecting": "Connecting …",
    "conn.offline": "Disconnected – retrying in {s} s",
    "age.label": "Picture {time}",
    "age.ago": "({age} ago)",
    "tab.incidents": "Incidents",
    "tab.warnings": "Warnings",
    "tab.districts": "Districts",
    "tab.overview": "Overview",
    "tab.journal": "Journal",
    "login.title": "Sign in",
    "login.token": "Access token",
    "login.submit": "Sign in",
    "login.refused": "Token unknown or revoked",
    "login.expired": "Token no longer valid – please sign in again",
    "login.logout": "Sign out",
    "action.title": "Actions",
    "action.done": "Done – recorded in the journal",
    "action.acknowledge": "Acknowledge",
    "action.acknowledged": "Acknowledged by {by}, {at}",
    "action.status.open": "Reopen",
    "action.status.resolved": "Resolve",
    "action.status.closed": "Close",
    "action.note": "Note",
    "action.note.placeholder": "Note …",
    "action.merge": "Merge incident into this one",
    "action.split": "Split off {thread}",
    "action.level": "Declared level",
    "action.level.rules": "rules",
    "filter.all.severity": "All severities",
    "filter.all.family": "All kinds",
    "filter.all.district": "All districts",
    "filter.all.agency": "All agencies",
    "filter.all.status": "All statuses",
    "sort.severity": "Sort: severity",
    "sort.newest": "Sort: newest",
    "sort.district": "Sort: district",
    "list.count": "{shown} of {total} incidents",
    "list.warnings": "{total} warnings",
    "list.empty": "Nothing to show",
    "chart.incidents": "Open incidents by severity (24 h)",
    "chart.capacity": "Free ICU beds (reported)",
    "feeds.title": "Feed health",
    "feeds.none": "No feeds reported",
    "feeds.ok": "ok",
    "feeds.items": "{n} items",
    "detail.back": "← Back",
    "detail.reports": "Reports by agency",
    "detail.timeline": "Timeline",
    "detail.loading": "Loading …",
    "detail.gone": "No longer in the picture",
    "detail.category": "Kind",
    "detail.status": "Status",
    "detail.district": "District",
    "detail.first": "First report",
    "detail.last": "Last report",
    "detail.agencies": "Agencies",
    "detail.metrics": "Figures",
    "detail.warnings": "Warnings",
    "detail.link.first": "opened the incident",
    "detail.link": "linked: {distance} apart, {gap} between reports ({reason})",
    "detail.onset": "Onset",
    "detail.expires": "Expires",
    "detail.districts": "Districts",
    "detail.description": "Description",
    "district.level": "Level",
    "district.icu": "ICU free",
    "district.warnings": "{n} warnings",
    "district.incidents": "{n} open incidents",
    "alert.ack": "Acknowledge",
    "alert.ackAll": "Acknowledge all",
    "alert.newIncident": "New incident ({severity}): {title}",
    "alert.rose": "Severity raised ({severity}): {title}",
    "alert.level": "{district}: level {old} → {new} ({label})",
    "sound.on": "Sound on",
    "sound.off": "Sound off",
    "film.play": "▶ Replay",
    "film.pause": "❚❚ Pause",
    "film.live": "Live",
    "film.banner": "Replay: picture at {time} (not live)",
    "legend.levels": "Escalation level",
    "legend.warning": "Warning",
    "unit.m": "{n} m",
    "unit.km": "{n} km",
    "unit.s": "{n} s",
    "unit.min": "{n} min",
    "unit.h": "{n} h",
  },
};

const LABELS = {
  de: {
    severity: { extreme: "extrem", severe: "schwer", moderate: "mittel", minor: "gering", unknown: "unbekannt" },
    family: {
      fire: "Brand", flood: "Hochwasser", accident: "Unfall", rescue: "Rettung", medical: "Rettungsdienst",
      hazmat: "Gefahrstoff", security: "Sicherheit", infrastructure: "Infrastruktur", weather: "Wetter",
      capacity: "Kapazität", other: "Sonstiges",
    },
    status: { open: "offen", resolved: "erledigt", active: "aktiv", pending: "angekündigt", closed: "geschlossen" },
    action: { acknowledge: "Kenntnisnahme", note: "Notiz", set_status: "Status", merge: "Zusammengeführt", split: "Abgetrennt", declare_level: "Stufe erklärt", level_changed: "Stufenwechsel" },
    source: { police: "Polizei", fire: "Feuerwehr", health: "Rettungsdienst", weather: "Wetterdienst",
      civil_protection: "Katastrophenschutz", other: "Sonstige" },
    level: ["Normal", "Erhöht", "Großschadenslage", "Katastrophenfall"],
    metric: { injured: "Verletzte", dead: "Tote", missing: "Vermisste", evacuated: "Evakuierte",
      affected: "Betroffene", units: "Einheiten", beds_free: "Betten frei", icu_beds_free: "ITS-Betten frei" },
    reason: { opened: "eröffnet", linked: "verknüpft", updated: "aktualisiert", cancelled: "storniert",
      quiet: "ohne Aktivität", operator: "durch Bearbeiter", activity: "neue Aktivität", closed: "geschlossen",
      moved: "verschoben", warnings: "Warnungen geändert", nearest: "nächster offener Einsatz",
      same_family: "gleiche Art" },
    change: { IncidentOpened: "Eröffnet", IncidentUpdated: "Aktualisiert", IncidentResolved: "Erledigt",
      IncidentReopened: "Wieder geöffnet", IncidentClosed: "Geschlossen", IncidentCancelled: "Storniert" },
  },
  en: {
    severity: { extreme: "extreme", severe: "severe", moderate: "moderate", minor: "minor", unknown: "unknown" },
    family: {
      fire: "Fire", flood: "Flood", accident: "Accident", rescue: "Rescue", medical: "Medical",
      hazmat: "Hazmat", security: "Security", infrastructure: "Infrastructure", weather: "Weather",
      capacity: "Capacity", other: "Other",
    },
    status: { open: "open", resolved: "resolved", active: "active", pending: "pending", closed: "closed" },
    action: { acknowledge: "Acknowledged", note: "Note", set_status: "Status", merge: "Merged", split: "Split", declare_level: "Level declared", level_changed: "Level changed" },
    source: { police: "Police", fire: "Fire service", health: "Ambulance", weather: "Weather service",
      civil_protection: "Civil protection", other: "Other" },
    level: ["Normal", "Elevated", "Major incident", "Disaster"],
    metric: { injured: "injured", dead: "dead", missing: "missing", evacuated: "evacuated",
      affected: "affected", units: "units", beds_free: "beds free", icu_beds_free: "ICU beds free" },
    reason: {},
    change: { IncidentOpened: "Opened", IncidentUpdated: "Updated", IncidentResolved: "Resolved",
      IncidentReopened: "Reopened", IncidentClosed: "Closed", IncidentCancelled: "Cancelled" },
  },
};

function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "de" || asked === "en") return asked;
  try {
    const stored = localStorage.getItem("lz.lang");
    if (stored === "de" || stored === "en") return stored;
  } catch {
    // storage may be disabled on kiosk browsers
  }
  return "de";
}

let current = initialLanguage();
const listeners = [];

export function lang() {
  return current;
}

export function setLang(value) {
  current = value;
  document.documentElement.lang = value;
  try {
    localStorage.setItem("lz.lang", value);
  } catch {
    // ignore
  }
  translateStatic();
  for (const listener of listeners) listener(value);
}

export function onLangChange(listener) {
  listeners.push(listener);
}

export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.de[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A label for a code (severity, family, status, source, metric, reason, change); unknown codes as is. */
export function label(kind, code) {
  const table = LABELS[current][kind] ?? {};
  return table[code] ?? LABELS.de[kind]?.[code] ?? String(code ?? "");
}

export function levelLabel(level) {
  return LABELS[current].level[level] ?? String(level);
}

export function translateStatic() {
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
}

export function formatTime(iso, withDate = false) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "–";
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  if (withDate) Object.assign(options, { day: "2-digit", month: "2-digit" });
  return date.toLocaleString(current === "de" ? "de-DE" : "en-GB", options);
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return t("unit.s", { n: s });
  if (s < 5400) return t("unit.min", { n: Math.round(s / 60) });
  return t("unit.h", { n: (s / 3600).toFixed(1) });
}

export function formatDistance(metres) {
  if (metres === null || metres === undefined) return "–";
  return metres < 1000 ? t("unit.m", { n: Math.round(metres) }) : t("unit.km", { n: (metres / 1000).toFixed(1) });
}

document.documentElement.lang = current;
