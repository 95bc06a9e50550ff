// Tactical symbols after DV 102 (rendered from taktische-zeichen-core at setup time, see
// map_ui/web/scripts/build-symbols.cjs). Each SVG is parsed once as XML (no scripts run, no HTML
// parser) and cloned per use.
import { SYMBOLS } from "/assets/vendor/symbols/tactical-symbols.js";
import { familyOf } from "./store.js";

const parsed = new Map();
const FAMILIES = new Set(["fire", "flood", "accident", "rescue", "medical", "hazmat", "security",
  "infrastructure"]);

export function symbolKey(incident) {
  const family = familyOf(incident.category);
  const severity = incident.severity in { extreme: 1, severe: 1, moderate: 1, minor: 1 } ? incident.severity : "unknown";
  return `${FAMILIES.has(family) ? family : "other"}/${severity}`;
}

/** A fresh <svg> element for the symbol key ("family/severity"). */
export function symbolElement(key) {
  let template = parsed.get(key);
  if (template === undefined) {
    const entry = SYMBOLS[key] ?? SYMBOLS["other/unknown"];
    const doc = new DOMParser().parseFromString(entry.svg, "image/svg+xml");
    template = document.importNode(doc.documentElement, true);
    template.setAttribute("aria-hidden", "true");
    template.setAttribute("preserveAspectRatio", "xMidYMid meet");
    parsed.set(key, template);
  }
  return template.cloneNode(true);
}

export function symbolSize(key) {
  return (SYMBOLS[key] ?? SYMBOLS["other/unknown"]).size;
}
