//! The incident layer (correlation/incidents.py): applies clustering decisions, keeps indexes,
//! timers and the board in step.

use crate::prelude::*;

impl Engine {
    // -- incidents ------------------------------------------------------------------------------

    pub fn incidents_apply(&mut self, obs: Obs, gc: &dyn GeoCall) {
        let ident = self.by_thread.get(&obs.thread).cloned();
        let ident = ident.filter(|i| self.live.contains_key(i));
        if obs.cancel {
            if let Some(i) = ident {
                self.remove(&i, &obs.thread, "thread_cancelled", gc);
            }
            return;
        }
        if let Some(i) = ident {
            if self.stays(&i, &obs) {
                self.replace(&i, obs, gc);
                return;
            }
            self.remove(&i, &obs.thread, "thread_moved_out", gc);
        }
        let found = if obs.lon.is_some() { self.nearest(&obs) } else { Found::No };
        match found {
            Found::No => self.open(obs, gc),
            Found::Yes(id, d, reach, window) => self.join(&id, d, reach, window, obs, gc),
        }
    }

    pub fn remove_thread(&mut self, thread: &Str, reason: &str, gc: &dyn GeoCall) {
        if let Some(i) = self.by_thread.get(thread).cloned() {
            if self.live.contains_key(&i) {
                self.remove(&i, thread, reason, gc);
            }
        }
    }

    pub fn open(&mut self, obs: Obs, gc: &dyn GeoCall) {
        let mut ident = incident_id(&obs.key);
        let mut salt = 1;
        while self.live.contains_key(ident.as_str()) {
            ident = incident_id(&format!("{}#{}", obs.key, salt));
            salt += 1;
        }
        let ident: Str = ident.into();
        let link = Engine::new_link(&obs, 0, 0.0, 0, "opened".into());
        self.next_live += 1;
        let inc = Incident::alone(ident.clone(), self.next_live, obs.thread.clone(), link, obs.t_us);
        self.live.insert(ident.clone(), inc);
        self.by_thread.insert(obs.thread.clone(), ident.clone());
        self.settle(&ident, true, gc);
        let view = self.view(&ident);
        self.ctx.emit(Kind::IncidentOpened, ident, view, Some(obs.thread), None);
    }

    pub fn join(&mut self, id: &Str, d: f64, reach: f64, window: i64, obs: Obs, gc: &dyn GeoCall) {
        let cfg = self.cfg.clone();
        let inc = self.live.get_mut(id).unwrap();
        let gap = (obs.t_us - inc.last_us).abs() / 1_000_000;
        let mut with: Vec<&str> = inc
            .families
            .iter()
            .filter(|(f, _)| cfg.pairs[obs.family][*f].is_some())
            .map(|(f, _)| &*cfg.families[*f])
            .collect();
        with.sort();
        // f"{d:.0f}" by hand (round half to even, as Python): a join happens for most reports
        let whole = |x: f64| -> String {
            let k = x.round_ties_even();
            if k.abs() >= 9.0e15 || (k == 0.0 && x.is_sign_negative()) {
                return format!("{:.0}", x);
            }
            let mut s = String::new();
            push_int(&mut s, k as i64);
            s
        };
        let mut reason = String::with_capacity(96);
        for part in [&*cfg.families[obs.family], " joins ", &with.join("+"), ": ", &whole(d), " m <= "] {
            reason.push_str(part);
        }
        reason.push_str(&whole(reach));
        reason.push_str(" m, ");
        push_int(&mut reason, gap);
        reason.push_str(" s <= ");
        push_int(&mut reason, window.div_euclid(1_000_000));
        reason.push_str(" s");
        let link = Engine::new_link(&obs, inc.next_order, py_round(d, 1), gap, reason.into());
        // a dict assignment: an existing key keeps its place
        inc.links.insert(obs.thread.clone(), link);
        inc.next_order += 1;
        fam_add(&mut inc.families, obs.family);
        self.by_thread.insert(obs.thread.clone(), id.clone());
        self.activity(id, &obs, "thread_linked", gc);
    }

    pub fn replace(&mut self, id: &Str, obs: Obs, gc: &dyn GeoCall) {
        let inc = self.live.get_mut(id).unwrap();
        let link = inc.links.get_mut(&obs.thread).unwrap();
        let old_family = link.family;
        link.source = obs.source.clone();
        link.agency = obs.agency.clone();
        link.family = obs.family;
        link.category = obs.category.clone();
        link.severity = obs.severity;
        link.lon = obs.lon;
        link.lat = obs.lat;
        link.seen_us = obs.t_us;
        link.seen = obs.t_str.clone();
        link.sequence = obs.sequence;
        link.metrics = obs.metrics.clone();
        link.headline = obs.headline.clone();
        link.view = None;
        if old_family != obs.family {
            fam_uncount(&mut inc.families, old_family);
            fam_add(&mut inc.families, obs.family);
        }
        self.activity(id, &obs, "thread_updated", gc);
    }

    pub fn activity(&mut self, id: &Str, obs: &Obs, reason: &'static str, gc: &dyn GeoCall) {
        let inc = self.live.get_mut(id).unwrap();
        if obs.t_us > inc.last_us {
            inc.last_us = obs.t_us;
            inc.last = obs.t_str.clone();
        }
        if obs.t_us < inc.first_us {
            inc.first_us = obs.t_us;
            inc.first = obs.t_str.clone();
        }
        inc.active_us = inc.active_us.max(obs.t_us);
        let reopened = inc.resolved;
        if reopened {
            inc.resolved = false;
            inc.resolved_us = None;
            inc.due_us = -1;
        }
        self.settle(id, true, gc);
        let view = self.view(id);
        if reopened {
            self.ctx.emit(Kind::IncidentReopened, id.clone(), view, Some(obs.thread.clone()), Some("activity".into()));
        } else {
            self.ctx.emit(Kind::IncidentUpdated, id.clone(), view, Some(obs.thread.clone()), Some(reason.into()));
        }
    }

    /// The link removed, for an operator's split to reuse.
    pub fn remove(&mut self, id: &Str, thread: &Str, reason: &str, gc: &dyn GeoCall) -> Link {
        let inc = self.live.get_mut(id).unwrap();
        let link = inc.links.shift_remove(thread).unwrap();
        fam_uncount(&mut inc.families, link.family);
        let empty = inc.links.is_empty();
        if self.by_thread.get(thread) == Some(id) {
            self.by_thread.remove(thread);
        }
        if empty {
            self.drop_incident(id);
            self.ctx.emit(Kind::IncidentCancelled, id.clone(), View::None, Some(thread.clone()), None);
            return link;
        }
        self.settle(id, true, gc);
        let view = self.view(id);
        self.ctx.emit(Kind::IncidentUpdated, id.clone(), view, Some(thread.clone()), Some(reason.into()));
        link
    }

    pub fn drop_incident(&mut self, id: &Str) -> Incident {
        let inc = self.live.remove(id).unwrap();
        self.armed.remove(id);
        for &(g, key) in &inc.cells {
            self.grids[g].remove(key, id);
        }
        for thread in inc.links.keys() {
            if self.by_thread.get(thread) == Some(id) {
                self.by_thread.remove(thread);
            }
        }
        self.board.incident_none(id);
        inc
    }

    pub fn settle(&mut self, id: &Str, moved: bool, gc: &dyn GeoCall) {
        let cfg = self.cfg.clone();
        let inc = self.live.get_mut(id).unwrap();
        let (lon, lat, metrics, lead_sev, lead_cat, lead_title);
        if inc.links.len() == 1 {
            let lead = inc.links.values().next().unwrap();
            metrics = lead.metrics.clone();
            match (lead.lon, lead.lat) {
                (Some(x), Some(y)) => {
                    lon = Some(py_round(x, 6));
                    lat = Some(py_round(y, 6));
                }
                (x, y) => {
                    lon = x;
                    lat = y;
                }
            }
            lead_sev = lead.severity;
            lead_cat = lead.category.clone();
            lead_title = lead.headline.clone().unwrap_or_else(|| lead.category.clone());
        } else {
            let mut m: Vec<(Str, i64)> = vec![];
            let (mut sum_lon, mut sum_lat, mut located) = (0.0f64, 0.0f64, 0i64);
            let mut lead: Option<&Link> = None;
            for link in inc.links.values() {
                if lead.map_or(true, |l| (link.rank(), -link.order) > (l.rank(), -l.order)) {
                    lead = Some(link);
                }
                for (name, value) in link.metrics.iter() {
                    if let Some(e) = m.iter_mut().find(|e| &e.0 == name) {
                        e.1 += value;
                    } else {
                        m.push((name.clone(), *value));
                    }
                }
                if let (Some(x), Some(y)) = (link.lon, link.lat) {
                    sum_lon += x;
                    sum_lat += y;
                    located += 1;
                }
            }
            if located > 0 {
                lon = Some(py_round(sum_lon / located as f64, 6));
                lat = Some(py_round(sum_lat / located as f64, 6));
            } else {
                lon = None;
                lat = None;
            }
            m.sort_by(|a, b| a.0.cmp(&b.0));
            metrics = Arc::new(m);
            let lead = lead.unwrap();
            lead_sev = lead.severity;
            lead_cat = lead.category.clone();
            lead_title = lead.headline.clone().unwrap_or_else(|| lead.category.clone());
        }
        inc.severity = lead_sev;
        inc.category = lead_cat;
        inc.title = lead_title;
        inc.metrics = metrics.clone();
        if moved {
            if lon != inc.lon || lat != inc.lat {
                inc.lon = lon;
                inc.lat = lat;
                match (lon, lat) {
                    (Some(x), Some(y)) => {
                        inc.district = cfg.locator.at(x, y);
                        inc.warnings = self.warnings.covering(gc, x, y);
                    }
                    _ => {
                        inc.district = None;
                        inc.warnings = empty_list();
                    }
                }
                index(&cfg, &mut self.grids, inc);
            } else if lon.is_some() {
                let same = inc.cells.len() == 1
                    && inc.families.len() == 1
                    && inc.cells[0].0 as i64 == cfg.group_of[inc.families[0].0];
                if !same {
                    index(&cfg, &mut self.grids, inc);
                }
            }
        }
        if !inc.resolved {
            let quiet = inc.families.iter().map(|(f, _)| cfg.quiet_us[*f]).max().unwrap();
            let due = inc.active_us + quiet;
            if due != inc.due_us {
                inc.due_us = due;
                let armed = self.armed.get(id);
                if armed.map_or(true, |a| (due, RESOLVE) < *a) {
                    self.armed.insert(id.clone(), (due, RESOLVE));
                    self.ctx.heap.push(Reverse((due, id.clone(), RESOLVE)));
                }
            }
            let (district, sev) = (inc.district, inc.severity);
            self.board.incident(id, district, sev, &metrics);
        } else {
            self.board.incident_none(id);
        }
    }

    pub fn view(&mut self, id: &Str) -> View {
        let cfg = &self.cfg;
        let inc = self.live.get_mut(id).unwrap();
        let (threads, agencies, links, families);
        if inc.links.len() == 1 {
            let (thread, link) = inc.links.iter_mut().next().unwrap();
            threads = vec![thread.clone()];
            agencies = vec![link.agency.clone()];
            links = vec![link.view(thread)];
            families = vec![cfg.families[inc.families[0].0].clone()];
        } else {
            let mut t: Vec<Str> = inc.links.keys().cloned().collect();
            t.sort();
            let mut a: Vec<Str> = inc.links.values().map(|l| l.agency.clone()).collect();
            a.sort();
            a.dedup();
            let mut lv = Vec::with_capacity(t.len());
            for th in &t {
                lv.push(inc.links.get_mut(th).unwrap().view(th));
            }
            let mut f: Vec<Str> = inc.families.iter().map(|(f, _)| cfg.families[*f].clone()).collect();
            f.sort();
            threads = t;
            agencies = a;
            links = lv;
            families = f;
        }
        View::Incident(Box::new(IncidentView {
            id: inc.id.clone(),
            resolved: inc.resolved,
            category: inc.category.clone(),
            severity: inc.severity,
            title: inc.title.clone(),
            centroid: inc.lon.map(|x| (x, inc.lat.unwrap())),
            district: inc.district.map(|d| cfg.districts[d].0.clone()),
            first_seen: inc.first.clone(),
            last_seen: inc.last.clone(),
            resolved_at: inc.resolved_us.map(rfc3339),
            agencies,
            families,
            metrics: inc.metrics.clone(),
            warnings: inc.warnings.clone(),
            threads,
            links,
            acknowledged: inc.acknowledged.clone(),
            notes: inc.notes.clone(),
        }))
    }

    pub fn incident_fire(&mut self, due: i64, id: &Str, kind: u8) {
        if self.armed.get(id) != Some(&(due, kind)) {
            return;
        }
        let inc = &self.live[id];
        let resolved = inc.resolved;
        let inc_due = inc.due_us;
        let current = if resolved { CLOSE } else { RESOLVE };
        if (inc_due, current) != (due, kind) {
            if inc_due != -1 {
                let d = inc_due;
                self.armed.insert(id.clone(), (d, current));
                self.ctx.heap.push(Reverse((d, id.clone(), current)));
            } else {
                self.armed.remove(id);
            }
            return;
        }
        self.armed.remove(id);
        if kind == RESOLVE && !resolved {
            self.resolve_incident(id, due, "quiet");
        } else if kind == CLOSE && resolved {
            self.drop_incident(id);
            self.ctx.emit(Kind::IncidentClosed, id.clone(), View::None, None, None);
        }
    }

    pub fn resolve_incident(&mut self, id: &Str, at_us: i64, reason: &'static str) {
        let close_after = self.cfg.close_after_us;
        let inc = self.live.get_mut(id).unwrap();
        inc.resolved = true;
        inc.resolved_us = Some(at_us);
        let due = at_us + close_after;
        inc.due_us = due;
        let armed = self.armed.get(id);
        if armed.map_or(true, |a| (due, CLOSE) < *a) {
            self.armed.insert(id.clone(), (due, CLOSE));
            self.ctx.heap.push(Reverse((due, id.clone(), CLOSE)));
        }
        self.board.incident_none(id);
        let view = self.view(id);
        self.ctx.emit(Kind::IncidentResolved, id.clone(), view, None, Some(reason.into()));
    }

    pub fn set_warnings(&mut self, id: &Str, warnings: Vec<Str>, reason: &'static str) {
        let inc = self.live.get_mut(id).unwrap();
        if *inc.warnings != warnings {
            inc.warnings = Arc::new(warnings);
            let view = self.view(id);
            self.ctx.emit(Kind::IncidentUpdated, id.clone(), view, None, Some(reason.into()));
        }
    }

    // -- warnings -------------------------------------------------------------------------------
}

/// Incidents._index
pub fn index(cfg: &Config, grids: &mut [Grid], inc: &mut Incident) {
    let mut cells: Vec<(usize, i64)> = vec![];
    if let (Some(lon), Some(lat)) = (inc.lon, inc.lat) {
        let mut names: Vec<usize> = inc.families.iter().map(|(f, _)| cfg.group_of[*f] as usize).collect();
        // sorted by group name; group indices follow rules.groups, which is sorted by name
        names.sort();
        names.dedup();
        for g in names {
            cells.push((g, grids[g].key(lon, lat)));
        }
    }
    if cells != inc.cells {
        for &(g, key) in &inc.cells {
            grids[g].remove(key, &inc.id);
        }
        for &(g, key) in &cells {
            grids[g].add(key, &inc.id);
        }
        inc.cells = cells;
    }
}
