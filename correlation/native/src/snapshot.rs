//! Snapshots: the native state as the Python engine's msgspec state structs (Incident, Link,
//! WarningState, Entry, ThreadState), and back. The Python side encodes and decodes them with the
//! Python engine's own codec, so a snapshot restores in either engine, byte for byte; restoring
//! rebuilds indexes, timers and board exactly as Engine.restore does.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::prelude::*;

const CAPACITY_METRICS: [&str; 2] = ["icu_beds_free", "beds_free"];

/// The struct classes a snapshot is made of, handed over from Python.
pub struct Classes<'py> {
    pub incident: Bound<'py, PyAny>,
    pub link: Bound<'py, PyAny>,
    pub warning: Bound<'py, PyAny>,
    pub entry: Bound<'py, PyAny>,
    pub thread: Bound<'py, PyAny>,
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Incident => "incident",
        Layer::Warning => "warning",
        Layer::Capacity => "capacity",
    }
}

fn metrics_dict<'py>(py: Python<'py>, m: &[(Str, i64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new_bound(py);
    for (k, v) in m {
        d.set_item(&**k, v)?;
    }
    Ok(d)
}

fn metrics_of(d: &Bound<'_, PyAny>) -> PyResult<Metrics> {
    let d = d.downcast::<PyDict>()?;
    let mut m = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        m.push((Str::from(k.extract::<String>()?), v.extract::<i64>()?));
    }
    Ok(Arc::new(m))
}

fn get<'py, T: FromPyObject<'py>>(o: &Bound<'py, PyAny>, name: &str) -> PyResult<T> {
    o.getattr(name)?.extract()
}

fn get_str(o: &Bound<'_, PyAny>, name: &str) -> PyResult<Str> {
    Ok(get::<String>(o, name)?.into())
}

fn get_opt_str(o: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Str>> {
    Ok(get::<Option<String>>(o, name)?.map(Str::from))
}

fn strs(v: Vec<String>) -> Vec<Str> {
    v.into_iter().map(Str::from).collect()
}

impl Engine {
    /// (seqs, canon, alias, threads, incidents, warnings, capacity, declared) as Python objects.
    pub fn export<'py>(&self, py: Python<'py>, c: &Classes<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let cfg = &self.cfg;
        let seqs = PyDict::new_bound(py);
        for (k, v) in &self.seqs {
            seqs.set_item(&**k, v)?;
        }
        let canon = PyDict::new_bound(py);
        for (k, v) in &self.canon {
            canon.set_item(&**k, &**v)?;
        }
        let alias = PyDict::new_bound(py);
        for (k, v) in &self.alias {
            alias.set_item(&**k, &**v)?;
        }
        let threads = PyDict::new_bound(py);
        for (k, t) in &self.threads {
            threads.set_item(&**k, c.thread.call1((layer_name(t.layer), t.t_us, &*t.own))?)?;
        }
        let incidents = PyList::empty_bound(py);
        let mut live: Vec<&Incident> = self.live.values().collect();
        live.sort_by_key(|i| i.order);
        for inc in live {
            incidents.append(self.export_incident(py, c, inc)?)?;
        }
        let warnings = PyList::empty_bound(py);
        let mut ws: Vec<&WarningState> = self.warnings.live.values().collect();
        ws.sort_by_key(|w| w.order);
        for w in ws {
            let kw = PyDict::new_bound(py);
            kw.set_item("id", &*w.id)?;
            kw.set_item("thread", &*w.thread)?;
            kw.set_item("source", &*w.source)?;
            kw.set_item("agency", &*w.agency)?;
            kw.set_item("category", &*w.category)?;
            kw.set_item("severity", &*w.severity)?;
            kw.set_item("headline", w.headline.as_deref())?;
            kw.set_item("description", w.description.as_deref())?;
            kw.set_item("event", w.event.as_deref())?;
            kw.set_item("sequence", w.sequence)?;
            kw.set_item("onset_us", w.onset_us)?;
            kw.set_item("expires_us", w.expires_us)?;
            kw.set_item("status", if w.active { "active" } else { "pending" })?;
            kw.set_item("geometry", w.geometry.as_ref().map(|g| g.bind(py)))?;
            kw.set_item("districts", w.districts.iter().map(|d| &**d).collect::<Vec<_>>())?;
            kw.set_item("issued", &*w.issued)?;
            kw.set_item("updated", &*w.updated)?;
            warnings.append(c.warning.call((), Some(&kw))?)?;
        }
        let capacity = PyList::empty_bound(py);
        for (thread, e) in &self.capacity.threads {
            let kw = PyDict::new_bound(py);
            kw.set_item("thread", &**thread)?;
            kw.set_item("scopes", e.scopes.iter().map(|s| &**s).collect::<Vec<_>>())?;
            kw.set_item("t_us", e.t_us)?;
            kw.set_item("seen", &*e.seen)?;
            let values = PyDict::new_bound(py);
            for &(m, n) in &e.values {
                values.set_item(CAPACITY_METRICS[m], n)?;
            }
            kw.set_item("values", values)?;
            capacity.append(c.entry.call((), Some(&kw))?)?;
        }
        let declared = PyDict::new_bound(py);
        for (d, (level, reason)) in &self.board.declared {
            declared.set_item(&*cfg.districts[*d].0, (level, reason))?;
        }
        Ok(PyTuple::new_bound(
            py,
            [
                seqs.into_any(),
                canon.into_any(),
                alias.into_any(),
                threads.into_any(),
                incidents.into_any(),
                warnings.into_any(),
                capacity.into_any(),
                declared.into_any(),
            ],
        ))
    }

    fn export_incident<'py>(&self, py: Python<'py>, c: &Classes<'py>, inc: &Incident) -> PyResult<Bound<'py, PyAny>> {
        let cfg = &self.cfg;
        let links = PyDict::new_bound(py);
        for (thread, l) in &inc.links {
            let kw = PyDict::new_bound(py);
            kw.set_item("thread", &**thread)?;
            kw.set_item("source", &*l.source)?;
            kw.set_item("agency", &*l.agency)?;
            kw.set_item("family", &*cfg.families[l.family])?;
            kw.set_item("category", &*l.category)?;
            kw.set_item("severity", SEVERITIES[l.severity])?;
            kw.set_item("rank", l.rank())?;
            kw.set_item("lon", l.lon)?;
            kw.set_item("lat", l.lat)?;
            kw.set_item("seen_us", l.seen_us)?;
            kw.set_item("seen", &*l.seen)?;
            kw.set_item("sequence", l.sequence)?;
            kw.set_item("metrics", metrics_dict(py, &l.metrics)?)?;
            kw.set_item("headline", l.headline.as_deref())?;
            kw.set_item("order", l.order)?;
            kw.set_item("linked_at", &*l.linked_at)?;
            kw.set_item("distance_m", l.distance_m)?;
            kw.set_item("time_gap_s", l.time_gap_s)?;
            kw.set_item("reason", &*l.reason)?;
            kw.set_item("pinned", l.pinned)?;
            links.set_item(&**thread, c.link.call((), Some(&kw))?)?;
        }
        let families = PyDict::new_bound(py);
        for (f, n) in &inc.families {
            families.set_item(&*cfg.families[*f], n)?;
        }
        let kw = PyDict::new_bound(py);
        kw.set_item("id", &*inc.id)?;
        kw.set_item("status", if inc.resolved { "resolved" } else { "open" })?;
        kw.set_item("links", links)?;
        kw.set_item("families", families)?;
        kw.set_item("first_us", inc.first_us)?;
        kw.set_item("first", &*inc.first)?;
        kw.set_item("last_us", inc.last_us)?;
        kw.set_item("last", &*inc.last)?;
        kw.set_item("active_us", inc.active_us)?;
        kw.set_item("due_us", inc.due_us)?;
        kw.set_item("resolved_us", inc.resolved_us)?;
        kw.set_item("next_order", inc.next_order)?;
        kw.set_item("lon", inc.lon)?;
        kw.set_item("lat", inc.lat)?;
        kw.set_item("district", inc.district.map(|d| &*cfg.districts[d].0))?;
        kw.set_item("warnings", inc.warnings.iter().map(|w| &**w).collect::<Vec<_>>())?;
        kw.set_item("severity", SEVERITIES[inc.severity])?;
        kw.set_item("category", &*inc.category)?;
        kw.set_item("title", &*inc.title)?;
        kw.set_item("metrics", metrics_dict(py, &inc.metrics)?)?;
        let cells: Vec<(&str, i64)> = inc.cells.iter().map(|&(g, k)| (&*cfg.group_names[g], k)).collect();
        kw.set_item("cells", cells)?;
        kw.set_item("acknowledged", inc.acknowledged.as_ref().map(|(a, b)| (&**a, &**b)))?;
        let notes: Vec<(&str, &str, &str)> = inc.notes.iter().map(|(a, b, t)| (&**a, &**b, &**t)).collect();
        kw.set_item("notes", notes)?;
        c.incident.call((), Some(&kw))
    }

    /// Engine.restore on a fresh engine: `state` is the decoded EngineState (correlation/state.py); `area` turns a
    /// warning geometry into its prepared shapely area and bounds.
    pub fn load(&mut self, state: &Bound<'_, PyAny>, area: &Bound<'_, PyAny>) -> PyResult<()> {
        let cfg = self.cfg.clone();
        let unknown = |what: &str, v: &str| pyo3::exceptions::PyValueError::new_err(format!("unknown {what} {v:?}"));
        let family = |f: &str| cfg.family(f).ok_or_else(|| unknown("family", f));
        let index = self.district_index.clone();
        let district = |a: &str| index.get(a).copied().ok_or_else(|| unknown("district", a));
        self.ctx.seq = get(state, "seq")?;
        self.ctx.clock_us = get(state, "clock_us")?;
        for (k, v) in get::<Bound<'_, PyDict>>(state, "seqs")?.iter() {
            self.seqs.insert(Str::from(k.extract::<String>()?), v.extract()?);
        }
        for (name, map) in [("canon", &mut self.canon), ("alias", &mut self.alias)] {
            for (k, v) in get::<Bound<'_, PyDict>>(state, name)?.iter() {
                map.insert(Str::from(k.extract::<String>()?), Str::from(v.extract::<String>()?));
            }
        }
        for (k, t) in get::<Bound<'_, PyDict>>(state, "threads")?.iter() {
            let layer = match get::<String>(&t, "layer")?.as_str() {
                "incident" => Layer::Incident,
                "warning" => Layer::Warning,
                "capacity" => Layer::Capacity,
                other => return Err(unknown("layer", other)),
            };
            let info = ThreadInfo { layer, t_us: get(&t, "t_us")?, own: get_str(&t, "own")? };
            self.threads.insert(Str::from(k.extract::<String>()?), info);
        }
        // incidents.restore
        for o in get::<Bound<'_, PyList>>(state, "incidents")?.iter() {
            let mut links = IndexMap::new();
            for (thread, l) in get::<Bound<'_, PyDict>>(&o, "links")?.iter() {
                let link = Link {
                    source: get_str(&l, "source")?,
                    agency: get_str(&l, "agency")?,
                    family: family(&get::<String>(&l, "family")?)?,
                    category: get_str(&l, "category")?,
                    severity: sev_index(&get::<String>(&l, "severity")?),
                    lon: get(&l, "lon")?,
                    lat: get(&l, "lat")?,
                    seen_us: get(&l, "seen_us")?,
                    seen: get_str(&l, "seen")?,
                    sequence: get(&l, "sequence")?,
                    metrics: metrics_of(&l.getattr("metrics")?)?,
                    headline: get_opt_str(&l, "headline")?,
                    order: get(&l, "order")?,
                    linked_at: get_str(&l, "linked_at")?,
                    distance_m: get(&l, "distance_m")?,
                    time_gap_s: get(&l, "time_gap_s")?,
                    reason: get_str(&l, "reason")?,
                    pinned: get(&l, "pinned")?,
                    view: None,
                };
                links.insert(Str::from(thread.extract::<String>()?), link);
            }
            let mut families = vec![];
            for (f, n) in get::<Bound<'_, PyDict>>(&o, "families")?.iter() {
                families.push((family(&f.extract::<String>()?)?, n.extract::<i64>()?));
            }
            let mut cells = vec![];
            for (g, key) in get::<Vec<(String, i64)>>(&o, "cells")? {
                let g = cfg.group_names.iter().position(|n| **n == *g).ok_or_else(|| unknown("group", &g))?;
                cells.push((g, key));
            }
            let id = get_str(&o, "id")?;
            let resolved = get::<String>(&o, "status")? == "resolved";
            let ags: Option<String> = get(&o, "district")?;
            self.next_live += 1;
            let inc = Incident {
                id: id.clone(),
                order: self.next_live,
                resolved,
                links,
                families,
                first_us: get(&o, "first_us")?,
                first: get_str(&o, "first")?,
                last_us: get(&o, "last_us")?,
                last: get_str(&o, "last")?,
                active_us: get(&o, "active_us")?,
                due_us: get(&o, "due_us")?,
                resolved_us: get(&o, "resolved_us")?,
                next_order: get(&o, "next_order")?,
                lon: get(&o, "lon")?,
                lat: get(&o, "lat")?,
                district: ags.as_deref().map(district).transpose()?,
                warnings: Arc::new(strs(get(&o, "warnings")?)),
                severity: sev_index(&get::<String>(&o, "severity")?),
                category: get_str(&o, "category")?,
                title: get_str(&o, "title")?,
                metrics: metrics_of(&o.getattr("metrics")?)?,
                cells,
                acknowledged: get::<Option<(String, String)>>(&o, "acknowledged")?.map(|(a, b)| (a.into(), b.into())),
                notes: Arc::new(
                    get::<Vec<(String, String, String)>>(&o, "notes")?
                        .into_iter()
                        .map(|(a, b, t)| (a.into(), b.into(), t.into()))
                        .collect(),
                ),
            };
            for thread in inc.links.keys() {
                self.by_thread.insert(thread.clone(), id.clone());
            }
            for &(g, key) in &inc.cells {
                self.grids[g].add(key, &id);
            }
            let kind = if resolved { CLOSE } else { RESOLVE };
            self.armed.insert(id.clone(), (inc.due_us, kind));
            self.ctx.heap.push(Reverse((inc.due_us, id.clone(), kind)));
            if !resolved {
                self.board.incident(&id, inc.district, inc.severity, &inc.metrics);
            }
            self.live.insert(id, inc);
        }
        // warnings.restore
        for o in get::<Bound<'_, PyList>>(state, "warnings")?.iter() {
            let id = get_str(&o, "id")?;
            let geometry = o.getattr("geometry")?;
            let geometry = if geometry.is_none() { None } else { Some(geometry) };
            if let Some(g) = &geometry {
                let (a, b): (PyObject, (f64, f64, f64, f64)) = area.call1((g,))?.extract()?;
                self.warnings.areas.insert(id.clone(), (a, [b.0, b.1, b.2, b.3]));
            }
            self.warnings.next_order += 1;
            let w = WarningState {
                id: id.clone(),
                thread: get_str(&o, "thread")?,
                source: get_str(&o, "source")?,
                agency: get_str(&o, "agency")?,
                category: get_str(&o, "category")?,
                severity: get_str(&o, "severity")?,
                headline: get_opt_str(&o, "headline")?,
                description: get_opt_str(&o, "description")?,
                event: get_opt_str(&o, "event")?,
                sequence: get(&o, "sequence")?,
                onset_us: get(&o, "onset_us")?,
                expires_us: get(&o, "expires_us")?,
                active: get::<String>(&o, "status")? == "active",
                geometry: geometry.map(|g| g.unbind()),
                districts: Arc::new(strs(get(&o, "districts")?)),
                issued: get_str(&o, "issued")?,
                updated: get_str(&o, "updated")?,
                order: self.warnings.next_order,
            };
            let (active, onset, expires) = (w.active, w.onset_us, w.expires_us);
            let sev = sev_index(&w.severity);
            let ds: Vec<usize> = w.districts.iter().filter_map(|a| self.district_index.get(a).copied()).collect();
            self.warnings.live.insert(id.clone(), w);
            if active {
                self.warnings.index(&id);
                self.board.warning(&id, &ds, Some(sev));
            } else {
                self.ctx.heap.push(Reverse((onset, id.clone(), ONSET)));
            }
            self.ctx.heap.push(Reverse((expires, id, EXPIRE)));
        }
        // capacity.restore
        for o in get::<Bound<'_, PyList>>(state, "capacity")?.iter() {
            let thread = get_str(&o, "thread")?;
            let scopes = strs(get(&o, "scopes")?);
            let mut values = vec![];
            for (m, n) in get::<Bound<'_, PyDict>>(&o, "values")?.iter() {
                let m: String = m.extract()?;
                let m = CAPACITY_METRICS.iter().position(|x| *x == m).ok_or_else(|| unknown("metric", &m))?;
                values.push((m, n.extract::<i64>()?));
            }
            for scope in &scopes {
                let members = self.capacity.scopes.entry(scope.clone()).or_default();
                if !members.contains(&thread) {
                    members.push(thread.clone());
                }
            }
            let entry = Entry { scopes, t_us: get(&o, "t_us")?, seen: get_str(&o, "seen")?, values };
            self.capacity.threads.insert(thread, entry);
        }
        let mut scopes: Vec<Str> = self.capacity.scopes.keys().filter(|s| s.len() == 5).cloned().collect();
        scopes.sort();
        for scope in scopes {
            let (v, _) = self.capacity.value(&scope);
            if let Some(&d) = self.district_index.get(&scope) {
                self.board.capacity(d, v[0], v[1]);
            }
        }
        for (ags, declared) in get::<Bound<'_, PyDict>>(state, "declared")?.iter() {
            let (level, reason): (i64, String) = declared.extract()?;
            self.declare(district(&ags.extract::<String>()?)?, Some(level), reason);
        }
        self.board.flush(&cfg, &mut self.ctx, false);
        Ok(())
    }
}
