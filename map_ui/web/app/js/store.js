// The situation picture held by the display (contract 3): maps of views by id, updated from the
// stream's snapshot and deltas. Every change carries its entity's full view (or null when the
// entity leaves the picture), so applying them in seq order is all there is to it.

export const SEVERITIES = ["extreme", "severe", "moderate", "minor", "unknown"];
export const SEVERITY_RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));

export class Picture {
  constructor(doc = null) {
    this.seq = 0;
    this.asOf = null;
    this.incidents = new Map();
    this.warnings = new Map();
    this.districts = new Map();
    this.capacity = new Map();
    if (doc) this.load(doc);
  }

  load(doc) {
    this.seq = doc.seq ?? 0;
    this.asOf = doc.as_of ?? null;
    this.incidents = new Map((doc.incidents ?? []).map((v) => [v.id, v]));
    this.warnings = new Map((doc.warnings ?? []).map((v) => [v.id, v]));
    this.districts = new Map((doc.districts ?? []).map((v) => [v.ags, v]));
    this.capacity = new Map((doc.capacity ?? []).map((v) => [v.id, v]));
  }

  table(entity) {
    switch (entity) {
      case "incident":
        return this.incidents;
      case "warning":
        return this.warnings;
      case "district":
        return this.districts;
      default:
        return this.capacity;
    }
  }

  /** Apply one change; returns the view it replaced (undefined if new), or null if stale. */
  apply(change) {
    if (change.seq <= this.seq) return null;
    const table = this.table(change.entity);
    const previous = table.get(change.id);
    if (change.view === null || change.view === undefined) table.delete(change.id);
    else table.set(change.id, change.view);
    this.seq = change.seq;
    if (change.at && (this.asOf === null || change.at > this.asOf)) this.asOf = change.at;
    return { previous };
  }

  /** Total of the latest known free ICU beds over the districts (null when none is known). */
  icuBedsFree() {
    let total = 0;
    let known = false;
    for (const district of this.districts.values()) {
      if (typeof district.icu_beds_free === "number") {
        total += district.icu_beds_free;
        known = true;
      }
    }
    if (!known) {
      for (const scope of this.capacity.values()) {
        if (typeof scope.icu_beds_free === "number") {
          total += scope.icu_beds_free;
          known = true;
        }
      }
    }
    return known ? total : null;
  }

  openBySeverity() {
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
    for (const incident of this.incidents.values()) {
      if (incident.status === "open") counts[incident.severity in counts ? incident.severity : "unknown"] += 1;
    }
    return counts;
  }
}

export function familyOf(category) {
  return String(category ?? "other").split(".")[0] || "other";
}
