// New extreme/severe incidents, severity rises to severe/extreme and escalation level rises are
// highlighted (bar, list row, pulsing marker; optionally a tone) until acknowledged here.
import { $, el } from "./dom.js";
import { label, levelLabel, t } from "./i18n.js";
import { SEVERITY_RANK } from "./store.js";

const MAX_SHOWN = 3;

export class Alerts {
  constructor({ onChange, onSelect }) {
    this.items = new Map(); // key -> {key, kind, id, text}
    this.onChange = onChange;
    this.onSelect = onSelect;
    this.sound = new URLSearchParams(location.search).get("sound") === "1";
    this.audio = null;
  }

  /** Look at one applied change (with the view it replaced) and raise what deserves attention. */
  consider(change, previous, districtName) {
    const view = change.view;
    if (change.entity === "incident" && view) {
      const rank = SEVERITY_RANK[view.severity] ?? 9;
      if (rank > 1) return;
      const before = previous ? SEVERITY_RANK[previous.severity] ?? 9 : null;
      if (before !== null && before <= rank) return;
      const key = `incident:${view.id}:${view.severity}`;
      const text = t(before === null ? "alert.newIncident" : "alert.rose", {
        severity: label("severity", view.severity),
        title: view.title ?? view.category,
      });
      this.add({ key, kind: "incident", id: view.id, text });
    } else if (change.type === "DistrictLevelChanged" && change.new_level > change.old_level) {
      const key = `level:${change.id}:${change.new_level}:${change.seq}`;
      const text = t("alert.level", {
        district: districtName(change.id),
        old: change.old_level,
        new: change.new_level,
        label: levelLabel(change.new_level),
      });
      this.add({ key, kind: "district", id: change.id, text });
    }
  }

  add(item) {
    if (this.items.has(item.key)) return;
    this.items.set(item.key, item);
    this.dirty = true;
    this.wantsTone = true;
  }

  /** Called once per applied batch: redraw and sound once. */
  flush() {
    if (!this.dirty) return;
    this.dirty = false;
    if (this.wantsTone && this.sound) this.tone();
    this.wantsTone = false;
    this.render();
    this.onChange?.();
  }

  alertingIncidents() {
    const ids = new Set();
    for (const item of this.items.values()) if (item.kind === "incident") ids.add(item.id);
    return ids;
  }

  acknowledge(key) {
    this.items.delete(key);
    this.render();
    this.onChange?.();
  }

  acknowledgeAll() {
    this.items.clear();
    this.render();
    this.onChange?.();
  }

  render() {
    const bar = $("alerts");
    const items = [...this.items.values()].reverse();
    bar.hidden = items.length === 0;
    bar.replaceChildren(
      ...items.slice(0, MAX_SHOWN).map((item) => el("div", { class: "alert-item", dataset: { key: item.key } },
        el("span", { class: "alert-text", text: item.text, onclick: () => this.onSelect?.(item) }),
        el("button", { type: "button", class: "ack", text: t("alert.ack"), onclick: () => this.acknowledge(item.key) }))),
      items.length > MAX_SHOWN ? el("span", { text: `+${items.length - MAX_SHOWN}` }) : null,
      items.length > 1 ? el("button", { type: "button", class: "ack-all", text: t("alert.ackAll"), onclick: () => this.acknowledgeAll() }) : null,
    );
  }

  setSound(on) {
    this.sound = on;
    if (on) this.tone(); // the click is the user gesture that lets audio start
  }

  tone() {
    try {
      this.audio ??= new AudioContext();
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, this.audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, this.audio.currentTime + 0.6);
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start();
      oscillator.stop(this.audio.currentTime + 0.6);
    } catch {
      // no audio device: the visual alert remains
    }
  }
}
