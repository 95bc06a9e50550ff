//! The warning layer (correlation/warnings.py): state, coverage index and links in Rust;
//! areas stay shapely objects in Python.

use crate::prelude::*;

// ---- warnings (state and links in Rust; areas in Python) --------------------------------------

pub struct WarningState {
    pub id: Str,
    pub thread: Str,
    pub source: Str,
    pub agency: Str,
    pub category: Str,
    pub severity: Str,
    pub headline: Option<Str>,
    pub description: Option<Str>,
    pub event: Option<Str>,
    pub sequence: i64,
    pub onset_us: i64,
    pub expires_us: i64,
    pub active: bool,
    pub geometry: Option<pyo3::PyObject>,
    pub districts: Arc<Vec<Str>>,
    pub issued: Str,
    pub updated: Str,
    pub order: u64,
}

pub const WCELL: f64 = 0.1;
pub const MAX_CELLS: i64 = 20_000;

#[derive(Default)]
pub struct Warnings {
    pub live: FxHashMap<Str, WarningState>,
    pub areas: FxHashMap<Str, (pyo3::PyObject, [f64; 4])>,
    pub cells: FxHashMap<(i64, i64), Vec<Str>>,
    pub global: Vec<Str>,
    pub next_order: u64,
}

impl Warnings {
    pub fn box_cells(&self, ident: &Str) -> Option<Vec<(i64, i64)>> {
        let (_, b) = self.areas.get(ident)?;
        let (x0, x1) = ((b[0] / WCELL).floor() as i64, (b[2] / WCELL).floor() as i64);
        let (y0, y1) = ((b[1] / WCELL).floor() as i64, (b[3] / WCELL).floor() as i64);
        if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS {
            return Some(vec![]);
        }
        let mut v = vec![];
        for x in x0..=x1 {
            for y in y0..=y1 {
                v.push((x, y));
            }
        }
        Some(v)
    }
    pub fn index(&mut self, ident: &Str) {
        let Some(cells) = self.box_cells(ident) else { return };
        if cells.is_empty() {
            self.global.push(ident.clone());
        }
        for c in cells {
            self.cells.entry(c).or_default().push(ident.clone());
        }
    }
    pub fn unindex(&mut self, ident: &Str) {
        if let Some(p) = self.global.iter().position(|x| x == ident) {
            self.global.remove(p);
        }
        for c in self.box_cells(ident).unwrap_or_default() {
            if let Some(ids) = self.cells.get_mut(&c) {
                if let Some(p) = ids.iter().position(|x| x == ident) {
                    ids.remove(p);
                    if ids.is_empty() {
                        self.cells.remove(&c);
                    }
                }
            }
        }
    }
    pub fn covering(&self, geo: &dyn GeoCall, lon: f64, lat: f64) -> Arc<Vec<Str>> {
        let key = ((lon / WCELL).floor() as i64, (lat / WCELL).floor() as i64);
        let cands = self.cells.get(&key);
        if cands.map_or(true, |c| c.is_empty()) && self.global.is_empty() {
            return empty_list();
        }
        let mut found: Vec<Str> = vec![];
        for ident in cands.into_iter().flatten().chain(self.global.iter()) {
            let (area, b) = &self.areas[ident];
            if b[0] <= lon && lon <= b[2] && b[1] <= lat && lat <= b[3] && geo.contains(area, lon, lat) {
                found.push(ident.clone());
            }
        }
        found.sort();
        found.dedup();
        Arc::new(found)
    }
    pub fn view(&self, w: &WarningState, py: pyo3::Python<'_>) -> View {
        View::Warning(Box::new(WarningView {
            id: w.id.clone(),
            active: w.active,
            category: w.category.clone(),
            severity: w.severity.clone(),
            headline: w.headline.clone(),
            description: w.description.clone(),
            event: w.event.clone(),
            source: w.source.clone(),
            agency: w.agency.clone(),
            onset: rfc3339(w.onset_us),
            expires: rfc3339(w.expires_us),
            issued: w.issued.clone(),
            updated: w.updated.clone(),
            districts: w.districts.clone(),
            thread: w.thread.clone(),
            geometry: w.geometry.as_ref().map(|g| g.clone_ref(py)),
        }))
    }
}

impl Engine {
    pub fn warnings_apply(&mut self, thread: &Str, r: &Rep, geo: &dyn Geo, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        let ident: Str = warning_id(thread).into();
        let exists = self.warnings.live.contains_key(&ident);
        if &*r.msg_type == "cancel" {
            if exists {
                self.withdraw(&ident);
                self.ctx.emit(Kind::WarningCancelled, ident.clone(), View::None, Some(thread.clone()), None);
                self.link_incidents(&ident, false, gc, py);
            }
            return;
        }
        // _build
        let ctx = &self.ctx;
        let onset_us = r.onset_us.unwrap_or(ctx.at_us);
        let expires_us = r.expires_us.unwrap_or(onset_us + self.cfg.warning_duration_us);
        let (geometry, districts, area, bounds) = geo.warning_geo();
        let clock = ctx.clock_us.unwrap_or(ctx.at_us);
        let old = self.warnings.live.get(&ident);
        let now: Str = rfc3339(ctx.at_us).into();
        let (old_active, old_onset, old_expires, old_order) = match old {
            Some(o) => (Some(o.active), o.onset_us, o.expires_us, o.order),
            None => (None, 0, 0, 0),
        };
        let order = if old.is_some() {
            old_order
        } else {
            self.warnings.next_order += 1;
            self.warnings.next_order
        };
        let new = WarningState {
            id: ident.clone(),
            thread: thread.clone(),
            source: r.source.clone(),
            agency: r.agency.clone().unwrap_or_else(|| r.source.clone()),
            category: r.category.clone(),
            severity: r.severity.clone(),
            headline: r.headline.clone(),
            description: r.description.clone(),
            event: r.event.clone(),
            sequence: r.sequence,
            onset_us,
            expires_us,
            active: onset_us <= clock,
            geometry,
            districts: Arc::new(districts),
            issued: old.map_or_else(|| now.clone(), |o| o.issued.clone()),
            updated: now,
            order,
        };
        if old_active == Some(true) {
            self.warnings.unindex(&ident);
        }
        self.warnings.areas.remove(&ident);
        if let (Some(a), Some(b)) = (area, bounds) {
            self.warnings.areas.insert(ident.clone(), (a, b));
        }
        // _schedule
        if !new.active && (old_active.is_none() || old_onset != new.onset_us || old_active == Some(true)) {
            self.ctx.heap.push(Reverse((new.onset_us, ident.clone(), ONSET)));
        }
        if old_active.is_none() || old_expires != new.expires_us {
            self.ctx.heap.push(Reverse((new.expires_us, ident.clone(), EXPIRE)));
        }
        let view = self.warnings.view(&new, py);
        self.warnings.live.insert(ident.clone(), new);
        if old_active.is_none() {
            self.ctx.emit(Kind::WarningIssued, ident.clone(), view, Some(thread.clone()), None);
        } else {
            self.ctx.emit(Kind::WarningUpdated, ident.clone(), view, Some(thread.clone()), Some("updated".into()));
        }
        self.relink(&ident, gc, py);
    }

    pub fn warning_fire(&mut self, due: i64, ident: &Str, kind: u8, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        let Some(w) = self.warnings.live.get_mut(ident) else { return };
        if kind == ONSET && !w.active && w.onset_us == due {
            w.active = true;
            let w = &self.warnings.live[ident];
            let view = self.warnings.view(w, py);
            self.ctx.emit(Kind::WarningUpdated, ident.clone(), view, None, Some("onset".into()));
            self.relink(ident, gc, py);
        } else if kind == EXPIRE && w.expires_us == due {
            self.withdraw(ident);
            self.ctx.emit(Kind::WarningExpired, ident.clone(), View::None, None, None);
            self.link_incidents(ident, false, gc, py);
        }
    }

    pub fn withdraw(&mut self, ident: &Str) {
        if self.warnings.live[ident].active {
            self.warnings.unindex(ident);
        }
        self.board.warning(ident, &[], None);
        self.warnings.live.remove(ident);
        self.warnings.areas.remove(ident);
    }

    pub fn relink(&mut self, ident: &Str, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        let w = &self.warnings.live[ident];
        let active = w.active;
        let sev = sev_index(&w.severity);
        let ds: Vec<usize> = w.districts.iter().filter_map(|a| self.district_index.get(a).copied()).collect();
        if active {
            self.warnings.index(ident);
        }
        self.board.warning(ident, &ds, if active { Some(sev) } else { None });
        self.link_incidents(ident, active, gc, py);
    }

    pub fn link_incidents(&mut self, ident: &Str, active: bool, gc: &dyn GeoCall, _py: pyo3::Python<'_>) {
        let area = if active { self.warnings.areas.get(ident) } else { None };
        let mut changed: Vec<(Str, Vec<Str>, &'static str)> = vec![];
        for inc in self.live.values() {
            let mut inside = false;
            if let (Some((a, b)), Some(lon), Some(lat)) = (area, inc.lon, inc.lat) {
                inside = b[0] <= lon && lon <= b[2] && b[1] <= lat && lat <= b[3] && gc.contains(a, lon, lat);
            }
            let listed = inc.warnings.contains(ident);
            if inside && !listed {
                let mut w: Vec<Str> = (*inc.warnings).clone();
                w.push(ident.clone());
                w.sort();
                changed.push((inc.id.clone(), w, "warning_linked"));
            } else if listed && !inside {
                let w: Vec<Str> = inc.warnings.iter().filter(|x| *x != ident).cloned().collect();
                changed.push((inc.id.clone(), w, "warning_unlinked"));
            }
        }
        changed.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        for (id, w, reason) in changed {
            self.set_warnings(&id, w, reason);
        }
    }

    // -- capacity -------------------------------------------------------------------------------
}
