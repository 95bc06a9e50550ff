// The operations display: wires the live picture (websocket stream) to map, panel, alerts,
// charts and the Lagefilm. URL parameters: ?lang=de|en, ?kiosk=1 (wall display), ?sound=1.
import { $, el, throttle } from "./dom.js";
import { api, logout, showLogin, token, whenUnauthorized } from "./auth.js";
import { Alerts } from "./alerts.js";
import { Charts } from "./charts.js";
import { Film } from "./film.js";
import { formatDuration, formatTime, label, lang, onLangChange, setLang, t, translateStatic } from "./i18n.js";
import { SituationMap } from "./map.js";
import { Panel } from "./panel.js";
import { Picture, SEVERITIES } from "./store.js";
import { Stream } from "./stream.js";

const params = new URLSearchParams(location.search);
const kiosk = params.get("kiosk") === "1";
const STALE_SECONDS = 60;

const live = new Picture();
let shown = live;
let selected = null;
let pending = [];
let applyTimer = null;
let connection = "connecting";
let snapshotSeen = false;
let role = "viewer"; // of the token in use; operators get the action controls

if (kiosk) {
  document.body.classList.add("kiosk");
  document.documentElement.classList.add("kiosk");
}
translateStatic();

const config = await fetch("/api/v1/ui/config").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));

const map = new SituationMap($("map"), {
  tileUrl: params.get("tiles") === "0" ? null : config.tile_url,
  tileAttribution: config.tile_attribution,
  outlineAttribution: config.outline_attribution ?? "© GeoBasis-DE / BKG 2021",
  onSelectIncident: (id) => selectIncident(id),
  onSelectDistrict: (ags) => {
    panel.showTab("districts");
    highlightRow("district-list", "ags", ags);
  },
});
map.legend($("legend"));

const districtName = (ags) => shown.districts.get(ags)?.name ?? map.districtName(ags);

const charts = new Charts($("chart-incidents"), $("chart-capacity"));
const alerts = new Alerts({
  onChange: () => {
    map.setAlerting(alerts.alertingIncidents(), shown);
    renderPanel();
  },
  onSelect: (item) => (item.kind === "incident" ? selectIncident(item.id) : map.focusDistrict(item.id)),
});

const panel = new Panel({
  picture: () => shown,
  districtName,
  selected: () => selected,
  alerting: () => alerts.alertingIncidents(),
  selectIncident: (id) => selectIncident(id),
  focusWarning: (id) => map.focusWarning(id),
  focusDistrict: (ags) => map.focusDistrict(ags),
  role: () => role,
  onTab: (name) => {
    if (name === "journal") panel.renderJournal();
    if (name === "overview") {
      charts.show();
      loadFeeds();
    } else charts.hide();
  },
});

const renderPanel = throttle(() => panel.render(), 300);
const refreshDetail = throttle(() => {
  if (selected && panel.detailId === selected) panel.showIncident(selected);
}, 1000);

function highlightRow(listId, key, value) {
  for (const row of $(listId).children) row.classList.toggle("selected", row.dataset[key] === value);
}

function selectIncident(id) {
  selected = id;
  map.select(id, shown);
  if (id) {
    if (panel.tab !== "incidents") panel.showTab("incidents");
    panel.showIncident(id);
  } else {
    panel.closeDetail();
    panel.render();
  }
}

// -- the live picture ------------------------------------------------------------------------

function showWhole(picture) {
  shown = picture;
  map.showPicture(picture);
  panel.buildFilters();
  panel.render();
  renderCounters();
  renderConnection();
}

function onSnapshot(doc) {
  live.load(doc);
  snapshotSeen = true;
  if (shown === live) showWhole(live);
  charts.sample(live);
  window.__lz.snapshots += 1;
}

function onDelta(changes) {
  pending.push(...changes);
  if (applyTimer === null) applyTimer = setTimeout(applyPending, 16);
}

function applyPending() {
  applyTimer = null;
  const changes = pending;
  pending = [];
  const upserts = new Map();
  const removals = new Set();
  const warnings = new Map();
  const districts = new Map();
  for (const change of changes) {
    const result = live.apply(change);
    if (result === null) continue;
    if (snapshotSeen) alerts.consider(change, result.previous, districtName);
    if (change.entity === "incident") {
      if (change.view) {
        upserts.set(change.id, change.view);
        removals.delete(change.id);
      } else {
        upserts.delete(change.id);
        removals.add(change.id);
      }
    } else if (change.entity === "warning") warnings.set(change.id, change.view);
    else if (change.entity === "district") districts.set(change.id, change.view);
  }
  if (shown === live) {
    map.applyIncidents([...upserts.values()], [...removals]);
    for (const [id, view] of warnings) map.setWarning(id, view);
    for (const [ags, view] of districts) map.setDistrict(ags, view);
    renderPanel();
    renderCounters();
    if (selected && (upserts.has(selected) || removals.has(selected))) refreshDetail();
  }
  alerts.flush();
  charts.sample(live);
  window.__lz.applied = live.seq;
}

const film = new Film({
  onShow: (picture) => showWhole(picture),
  onLive: () => showWhole(live),
});

// -- status line -----------------------------------------------------------------------------

function renderCounters() {
  const counts = shown.openBySeverity();
  $("counters").replaceChildren(
    ...SEVERITIES.slice(0, 4).map((severity) => el("span", {
      class: `counter sev-${severity}`,
      title: label("severity", severity),
      dataset: { severity },
      text: String(counts[severity]),
    })),
    el("span", { class: "counter", dataset: { kind: "warnings" }, text: `⚠ ${shown.warnings.size}` }),
  );
}

function renderConnection() {
  const box = $("connection");
  box.className = `connection state-${connection}`;
  const seconds = Math.max(0, Math.ceil((stream.retryAt - Date.now()) / 1000));
  $("connection-text").textContent = connection === "offline" ? t("conn.offline", { s: seconds }) : t(`conn.${connection}`);
  const age = $("picture-age");
  const asOf = shown.asOf;
  if (!asOf) {
    age.textContent = "";
    return;
  }
  const ageSeconds = (Date.now() - Date.parse(asOf)) / 1000;
  const isLive = shown === live;
  age.textContent = `${t("age.label", { time: formatTime(asOf, !isLive) })} ${isLive ? t("age.ago", { age: formatDuration(ageSeconds) }) : ""}`;
  age.classList.toggle("stale", isLive && (connection !== "live" || ageSeconds > STALE_SECONDS));
}

const stream = new Stream({
  onSnapshot,
  onDelta,
  onHeartbeat: (message) => {
    if (message.as_of && (live.asOf === null || message.as_of > live.asOf)) live.asOf = message.as_of;
  },
  onState: (state) => {
    if (state !== connection) {
      connection = state;
      window.__lz.connection = state;
      renderConnection();
    }
  },
});

async function loadFeeds() {
  try {
    const response = await api("/api/v1/feeds");
    if (response.ok) panel.renderFeeds((await response.json()).feeds ?? []);
  } catch {
    // shown again on the next poll
  }
}

// -- controls --------------------------------------------------------------------------------

function renderControls() {
  $("lang-toggle").textContent = lang() === "de" ? "EN" : "DE";
  $("lang-toggle").title = lang() === "de" ? "English" : "Deutsch";
  $("sound-toggle").textContent = alerts.sound ? t("sound.on") : t("sound.off");
  $("sound-toggle").setAttribute("aria-pressed", String(alerts.sound));
}

$("lang-toggle").addEventListener("click", () => setLang(lang() === "de" ? "en" : "de"));
$("sound-toggle").addEventListener("click", () => {
  alerts.setSound(!alerts.sound);
  renderControls();
});
onLangChange(() => {
  renderControls();
  map.legend($("legend"));
  panel.buildFilters();
  panel.render();
  alerts.render();
  film.label();
  renderConnection();
  if (charts.visible) charts.draw(true);
  if (selected) panel.showIncident(selected);
});

window.__lz = {
  live,
  map,
  film,
  stream,
  alerts,
  get shown() {
    return shown;
  },
  snapshots: 0,
  applied: 0,
  connection,
  outlines: false,
};

renderControls();
// Who is watching: without a valid token (when the API requires one) the login form comes first.
whenUnauthorized(() => showLogin(token() ? t("login.expired") : ""));
const me = await api("/api/v1/me").catch(() => null);
if (me?.ok) {
  role = (await me.json()).role;
  window.__lz.role = role;
  $("logout").hidden = !token();
  $("logout").addEventListener("click", logout);
  stream.connect();
} else if (me && me.status !== 401) {
  stream.connect(); // anything but a refused token: try the stream, it reconnects by itself
}
map.loadOutlines().then(() => {
  window.__lz.outlines = true;
  if (shown.districts.size) map.showPicture(shown);
});
setInterval(() => {
  renderConnection();
  film.tick();
  stream.checkAlive(STALE_SECONDS * 1000);
}, 1000);
setInterval(() => {
  if (panel.tab === "overview") loadFeeds();
}, 30_000);
