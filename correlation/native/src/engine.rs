//! The engine façade (correlation/engine.py): threads, routing, timers, picture.

use crate::prelude::*;

// ---- the engine --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Incident,
    Warning,
    Capacity,
}

pub struct ThreadInfo {
    pub layer: Layer,
    pub t_us: i64,
    pub own: Str,
}

pub struct Engine {
    pub cfg: Arc<Config>,
    pub ctx: Ctx,
    pub board: Board,
    // incidents
    pub live: FxHashMap<Str, Incident>,
    pub by_thread: FxHashMap<Str, Str>,
    pub grids: Vec<Grid>,
    pub armed: FxHashMap<Str, (i64, u8)>,
    pub next_live: u64,
    pub warnings: Warnings,
    pub capacity: Capacity,
    pub seqs: FxIndexMap<Str, i64>,           // insertion order, as the snapshot keeps it
    pub canon: FxIndexMap<Str, Str>,          // insertion order, as the snapshot keeps it
    pub alias: FxIndexMap<Str, Str>,          // insertion order, as the snapshot keeps it
    pub threads: FxIndexMap<Str, ThreadInfo>, // insertion order, as the snapshot keeps it
    pub states: FxHashSet<String>,
    pub district_index: FxHashMap<Str, usize>,
    pub scratch: Vec<Str>,
}

impl Engine {
    pub fn new(cfg: Config) -> Self {
        let cfg = Arc::new(cfg);
        let grids = cfg.cell_m.iter().map(|&c| Grid::new(c, cfg.m_per_deg, cfg.x_scale)).collect();
        let board = Board::new(&cfg);
        let states = cfg.districts.iter().map(|d| d.0[..2].to_string()).collect();
        let district_index = cfg.districts.iter().enumerate().map(|(i, d)| (d.0.clone(), i)).collect();
        Engine {
            ctx: Ctx { seq: 0, clock_us: None, heap: BinaryHeap::new(), out: vec![], at_us: 0, late: false },
            board,
            live: FxHashMap::default(),
            by_thread: FxHashMap::default(),
            grids,
            armed: FxHashMap::default(),
            next_live: 0,
            warnings: Warnings::default(),
            capacity: Capacity::default(),
            seqs: FxIndexMap::default(),
            canon: FxIndexMap::default(),
            alias: FxIndexMap::default(),
            threads: FxIndexMap::default(),
            states,
            district_index,
            scratch: vec![],
            cfg,
        }
    }

    // -- input ----------------------------------------------------------------------------------

    pub fn process(&mut self, r: &Rep, geo: &dyn Geo, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        let own: Str = concat(&[&r.source, ":", &r.source_id]).into();
        let last = self.seqs.get(&own).copied();
        if let Some(l) = last {
            if r.sequence <= l {
                return;
            }
        }
        self.seqs.insert(own.clone(), r.sequence);
        let thread: Str = if !r.references.is_empty() || r.message_id.is_some() {
            self.chain(&own, r, last.is_none())
        } else if last.is_none() {
            own.clone()
        } else {
            self.canon.get(&own).cloned().unwrap_or_else(|| own.clone())
        };
        let t_us = r.t_us;
        if self.ctx.clock_us.map_or(true, |c| t_us > c) {
            self.ctx.clock_us = Some(t_us);
        }
        let watermark = self.ctx.clock_us.unwrap() - self.cfg.allowed_lateness_us;
        if self.due(watermark) {
            self.fire(watermark, false, gc, py);
        }
        let known = self.threads.get(&thread).map(|k| (k.layer, k.t_us, k.own.clone()));
        let go = match &known {
            None => true,
            Some((_, kt, kown)) => *kown == own || t_us >= *kt,
        };
        if go {
            let late = t_us < watermark;
            self.ctx.step(t_us, late);
            self.apply(&thread, &own, r, t_us, known.map(|k| k.0), geo, gc, py);
            if self.due(watermark) {
                self.fire(watermark, false, gc, py);
                self.ctx.step(t_us, late);
            }
        }
        let cfg = self.cfg.clone();
        self.board.flush(&cfg, &mut self.ctx, true);
    }

    pub fn due(&self, until: i64) -> bool {
        self.ctx.heap.peek().map_or(false, |Reverse(e)| e.0 <= until)
    }

    pub fn advance(&mut self, now_us: i64, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        if self.ctx.clock_us.map_or(true, |c| now_us > c) {
            self.ctx.clock_us = Some(now_us);
        }
        let w = self.ctx.clock_us.unwrap() - self.cfg.allowed_lateness_us;
        self.fire(w, true, gc, py);
    }

    /// Engine._operator with incidents.resolve (reopen=false) or incidents.reopen (true).
    /// Returns false if the incident is not live (the caller raises UnknownIncident).
    pub fn operator(&mut self, ident: &str, at_us: i64, reopen: bool, gc: &dyn GeoCall, py: pyo3::Python<'_>) -> bool {
        if !self.live.contains_key(ident) {
            return false;
        }
        if self.ctx.clock_us.map_or(true, |c| at_us > c) {
            self.ctx.clock_us = Some(at_us);
        }
        let w = self.ctx.clock_us.unwrap() - self.cfg.allowed_lateness_us;
        self.fire(w, true, gc, py);
        if !self.live.contains_key(ident) {
            return true;
        }
        self.ctx.step(at_us, false);
        let id: Str = self.live.get_key_value(ident).unwrap().0.clone();
        if reopen {
            let inc = self.live.get_mut(&id).unwrap();
            if inc.resolved {
                inc.resolved = false;
                inc.resolved_us = None;
                inc.due_us = -1;
                inc.active_us = inc.active_us.max(at_us);
                self.settle(&id, false, gc);
                let view = self.view(&id);
                self.ctx.emit(Kind::IncidentReopened, id.clone(), view, None, Some("operator".into()));
            }
        } else if !self.live[&id].resolved {
            self.resolve_incident(&id, at_us, "operator");
        }
        let cfg = self.cfg.clone();
        self.board.flush(&cfg, &mut self.ctx, true);
        self.fire(w, true, gc, py);
        true
    }

    pub fn chain(&mut self, own: &Str, r: &Rep, first: bool) -> Str {
        let thread: Str = if !first {
            self.canon.get(own).cloned().unwrap_or_else(|| own.clone())
        } else {
            let mut t: Option<Str> = None;
            for rf in &r.references {
                if let Some(x) = self.alias.get(rf) {
                    t = Some(x.clone());
                    break;
                }
            }
            if t.is_none() {
                if let Some(m) = &r.message_id {
                    t = self.alias.get(m).cloned();
                }
            }
            match t {
                None => own.clone(),
                Some(t) => {
                    if t != *own {
                        self.canon.insert(own.clone(), t.clone());
                    }
                    t
                }
            }
        };
        if let Some(m) = &r.message_id {
            self.alias.entry(m.clone()).or_insert_with(|| thread.clone());
        }
        for rf in &r.references {
            self.alias.entry(rf.clone()).or_insert_with(|| thread.clone());
        }
        thread
    }

    pub fn route(&self, r: &Rep, family: Option<usize>) -> Layer {
        let cfg = &self.cfg;
        if family.map_or(false, |f| cfg.warning_families.contains(&f))
            || (cfg.warning_sources.iter().any(|s| **s == *r.source)
                && cfg.warning_formats.iter().any(|s| **s == *r.feed_format))
        {
            return Layer::Warning;
        }
        if family.map_or(false, |f| cfg.capacity_families.contains(&f)) {
            return Layer::Capacity;
        }
        Layer::Incident
    }

    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        thread: &Str,
        own: &Str,
        r: &Rep,
        t_us: i64,
        known: Option<Layer>,
        geo: &dyn Geo,
        gc: &dyn GeoCall,
        py: pyo3::Python<'_>,
    ) {
        let family_name = r.category.split('.').next().unwrap();
        let family = self.cfg.family(family_name);
        let cancel = &*r.msg_type == "cancel";
        let layer = match (cancel, known) {
            (true, Some(k)) => k,
            _ => self.route(r, family),
        };
        match self.threads.get_mut(thread) {
            None => {
                self.threads.insert(thread.clone(), ThreadInfo { layer, t_us, own: own.clone() });
            }
            Some(k) => {
                let old = k.layer;
                k.layer = layer;
                k.t_us = t_us;
                k.own = own.clone();
                if old != layer {
                    self.leave(old, thread, gc, py);
                }
            }
        }
        match layer {
            Layer::Incident => {
                let obs = self.obs(thread, own, r, family.unwrap(), t_us, cancel, geo);
                self.incidents_apply(obs, gc);
            }
            Layer::Warning => self.warnings_apply(thread, r, geo, gc, py),
            Layer::Capacity => self.capacity_apply(thread, r, t_us, geo),
        }
    }

    pub fn leave(&mut self, layer: Layer, thread: &Str, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        match layer {
            Layer::Incident => self.remove_thread(thread, "thread_rerouted", gc),
            Layer::Warning => {
                let ident: Str = warning_id(thread).into();
                if self.warnings.live.contains_key(&ident) {
                    self.withdraw(&ident);
                    self.ctx.emit(Kind::WarningCancelled, ident.clone(), View::None, Some(thread.clone()), None);
                    self.link_incidents(&ident, false, gc, py);
                }
            }
            Layer::Capacity => self.capacity_remove(thread),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn obs(&self, thread: &Str, own: &Str, r: &Rep, family: usize, t_us: i64, cancel: bool, geo: &dyn Geo) -> Obs {
        let (lon, lat) = if cancel {
            (None, None)
        } else {
            match r.geometry {
                GeomKind::Point(x, y) => (Some(x), Some(y)),
                GeomKind::Other => match geo.point_of() {
                    Some((x, y)) => (Some(x), Some(y)),
                    None => (None, None),
                },
                GeomKind::None => {
                    if r.area_codes.is_empty() {
                        (None, None)
                    } else {
                        match geo.point_of() {
                            Some((x, y)) => (Some(x), Some(y)),
                            None => (None, None),
                        }
                    }
                }
            }
        };
        Obs {
            thread: thread.clone(),
            key: concat(&[own, ":", &r.sequence.to_string()]),
            source: r.source.clone(),
            agency: r.agency.clone().unwrap_or_else(|| r.source.clone()),
            family,
            category: r.category.clone(),
            severity: sev_index(&r.severity),
            lon,
            lat,
            t_us,
            t_str: rfc3339(t_us).into(),
            sequence: r.sequence,
            metrics: r.metrics.clone(),
            headline: r.headline.clone(),
            cancel,
        }
    }

    pub fn fire(&mut self, until: i64, flush: bool, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        while self.due(until) {
            let Reverse((due, ident, kind)) = self.ctx.heap.pop().unwrap();
            self.ctx.step(due, false);
            if ident.starts_with("inc-") {
                self.incident_fire(due, &ident, kind);
            } else {
                self.warning_fire(due, &ident, kind, gc, py);
            }
            if flush {
                let cfg = self.cfg.clone();
                self.board.flush(&cfg, &mut self.ctx, true);
            }
        }
    }

    // -- picture --------------------------------------------------------------------------------

    pub fn incident_ids(&self) -> Vec<Str> {
        let mut v: Vec<(&u64, &Str)> = self.live.values().map(|i| (&i.order, &i.id)).collect();
        v.sort();
        v.into_iter().map(|x| x.1.clone()).collect()
    }

    pub fn warning_views(&self, py: pyo3::Python<'_>) -> Vec<View> {
        let mut v: Vec<&WarningState> = self.warnings.live.values().collect();
        v.sort_by_key(|w| w.order);
        v.into_iter().map(|w| self.warnings.view(w, py)).collect()
    }

    pub fn capacity_views(&self) -> Vec<View> {
        let mut scopes: Vec<&Str> = self.capacity.scopes.keys().filter(|s| s.len() != 5).collect();
        scopes.sort();
        scopes.into_iter().map(|s| self.capacity.view(s)).collect()
    }
}
