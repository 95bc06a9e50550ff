// Duty officer actions in the incident detail and the journal tab. Every action goes to the API,
// which journals it before the engine applies it; the display then sees the result on the stream
// like any other change.
import { el } from "./dom.js";
import { api, send } from "./auth.js";
import { formatTime, label, t } from "./i18n.js";

const ORDER = ["viewer", "operator", "staff", "admin"];

export function may(role, needed) {
  return ORDER.indexOf(role) >= ORDER.indexOf(needed) && ORDER.includes(role);
}

/** The action section of one incident's detail. */
export function incidentActions(incident, { onDone }) {
  const message = el("p", { class: "action-message", role: "status" });
  const base = `/api/v1/incidents/${encodeURIComponent(incident.id)}`;
  const run = async (method, path, body) => {
    const result = await send(method, path, body);
    message.textContent = result.ok ? t("action.done") : (result.doc?.detail ?? `HTTP ${result.status}`);
    if (result.ok) onDone?.();
  };
  const note = el("input", { type: "text", maxlength: "2000", class: "note-input", placeholder: t("action.note.placeholder") });
  const other = el("input", { type: "text", maxlength: "200", class: "merge-input", placeholder: "inc-…" });
  const statusButtons = ["open", "resolved", "closed"]
    .filter((status) => status !== incident.status)
    .map((status) => el("button", {
      type: "button", class: "tool", dataset: { action: `status-${status}` },
      text: t(`action.status.${status}`), onclick: () => run("POST", `${base}/status`, { status }),
    }));
  return el("section", { class: "actions" },
    el("h3", { text: t("action.title") }),
    incident.acknowledged
      ? el("p", { text: t("action.acknowledged", { by: incident.acknowledged.by, at: formatTime(incident.acknowledged.at, true) }) })
      : el("button", { type: "button", class: "tool", dataset: { action: "acknowledge" }, text: t("action.acknowledge"), onclick: () => run("POST", `${base}/acknowledge`) }),
    el("div", { class: "action-row" }, ...statusButtons),
    el("form", { class: "action-row", onsubmit: (event) => {
      event.preventDefault();
      if (note.value.trim()) run("POST", `${base}/notes`, { text: note.value }).then(() => { note.value = ""; });
    } }, note, el("button", { type: "submit", class: "tool", text: t("action.note") })),
    el("form", { class: "action-row", onsubmit: (event) => {
      event.preventDefault();
      if (other.value.trim()) run("POST", "/api/v1/incidents/merge", { incident: incident.id, other: other.value.trim() });
    } }, other, el("button", { type: "submit", class: "tool", text: t("action.merge") })),
    (incident.threads ?? []).length > 1
      ? el("div", { class: "action-row" }, ...(incident.threads ?? []).map((thread) => el("button", {
        type: "button", class: "tool", text: t("action.split", { thread }),
        onclick: () => run("POST", `${base}/split`, { thread }),
      })))
      : null,
    message,
  );
}

/** Notes of an incident, shown to everyone. */
export function incidentNotes(incident) {
  if (!incident.notes?.length) return null;
  return el("ol", { class: "notes" }, ...incident.notes.map((note) => el("li", {},
    el("time", { text: formatTime(note.at, true) }), ` ${note.by}: `, note.text)));
}

/** A district's declared level: the operator sets or withdraws it. */
export function levelControl(district, onDone) {
  const select = el("select", { class: "level-select", "aria-label": t("action.level") },
    el("option", { value: "", text: t("action.level.rules") }),
    ...[0, 1, 2, 3].map((level) => el("option", { value: String(level), text: String(level) })));
  select.value = district.declared_level === null || district.declared_level === undefined ? "" : String(district.declared_level);
  select.addEventListener("change", async () => {
    const level = select.value === "" ? null : Number(select.value);
    const result = await send("PUT", `/api/v1/districts/${district.ags}/level`, { level, reason: "" });
    if (result.ok) onDone?.();
  });
  select.addEventListener("click", (event) => event.stopPropagation());
  return select;
}

/** The journal tab: newest first, every action and level change with who and when. */
export async function renderJournal(list) {
  const entries = [];
  let after = 0;
  for (;;) {
    const response = await api(`/api/v1/journal?after=${after}&limit=1000`);
    if (!response.ok) break;
    const page = await response.json();
    entries.push(...page.entries);
    if (page.entries.length < 1000) break;
    after = page.next_after;
  }
  list.replaceChildren(...entries.reverse().slice(0, 500).map((entry) => el("li", { class: "journal-entry", dataset: { seq: String(entry.seq) } },
    el("time", { text: formatTime(entry.at, true) }),
    el("span", { class: "journal-action", text: ` ${label("action", entry.action)} ` }),
    el("span", { class: "journal-subject", text: entry.subject }),
    el("div", { class: "journal-actor", text: entry.actor }),
    el("div", { class: "journal-detail", text: describe(entry) }),
    el("div", { class: "journal-hash", title: entry.hash, text: `#${entry.seq} ${entry.hash.slice(0, 12)}…` }))));
}

function describe(entry) {
  const p = entry.payload ?? {};
  if (entry.action === "level_changed") return `${p.old_level} → ${p.new_level}: ${p.reason ?? ""}`;
  const input = p.input ?? {};
  if (entry.action === "note") return input.text ?? "";
  if (entry.action === "set_status") return label("status", input.status);
  if (entry.action === "merge") return `← ${input.other}`;
  if (entry.action === "split") return input.thread ?? "";
  if (entry.action === "declare_level") return `${input.level ?? "–"} ${input.reason ?? ""}`;
  return "";
}
