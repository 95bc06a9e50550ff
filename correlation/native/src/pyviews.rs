//! Rust views and changes as the Python objects the Python engine emits: dicts with the same
//! keys in the same order, msgspec Change structs of correlation.changes.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict, PyList, PyString, PyTuple, PyTzInfo};

use crate::bindings::Core;
use crate::prelude::*;
use crate::pyconfig::*;

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::IncidentOpened => "IncidentOpened",
        Kind::IncidentUpdated => "IncidentUpdated",
        Kind::IncidentResolved => "IncidentResolved",
        Kind::IncidentReopened => "IncidentReopened",
        Kind::IncidentClosed => "IncidentClosed",
        Kind::IncidentCancelled => "IncidentCancelled",
        Kind::WarningIssued => "WarningIssued",
        Kind::WarningUpdated => "WarningUpdated",
        Kind::WarningExpired => "WarningExpired",
        Kind::WarningCancelled => "WarningCancelled",
        Kind::CapacityUpdated => "CapacityUpdated",
        Kind::DistrictUpdated => "DistrictUpdated",
        Kind::DistrictLevelChanged => "DistrictLevelChanged",
    }
}

pub const KINDS: [Kind; 13] = [
    Kind::IncidentOpened,
    Kind::IncidentUpdated,
    Kind::IncidentResolved,
    Kind::IncidentReopened,
    Kind::IncidentClosed,
    Kind::IncidentCancelled,
    Kind::WarningIssued,
    Kind::WarningUpdated,
    Kind::WarningExpired,
    Kind::WarningCancelled,
    Kind::CapacityUpdated,
    Kind::DistrictUpdated,
    Kind::DistrictLevelChanged,
];

pub fn pystr<'py>(py: Python<'py>, v: &str) -> Bound<'py, PyString> {
    PyString::new_bound(py, v)
}

pub fn opt_pystr(py: Python<'_>, v: &Option<Str>) -> PyObject {
    match v {
        None => py.None(),
        Some(x) => pystr(py, x).into_any().unbind(),
    }
}

pub fn str_list<'py>(py: Python<'py>, v: &[Str]) -> Bound<'py, PyList> {
    PyList::new_bound(py, v.iter().map(|x| pystr(py, x)))
}

pub fn metrics_dict<'py>(py: Python<'py>, m: &[(Str, i64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new_bound(py);
    for (k, v) in m {
        d.set_item(pystr(py, k), v)?;
    }
    Ok(d)
}

impl Core {
    pub fn datetime<'py>(&self, py: Python<'py>, us: i64) -> PyResult<Bound<'py, PyDateTime>> {
        let secs = us.div_euclid(1_000_000);
        let micro = us.rem_euclid(1_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let tz = self.utc.bind(py).downcast::<PyTzInfo>()?;
        PyDateTime::new_bound(
            py,
            y as i32,
            m as u8,
            d as u8,
            (rem / 3600) as u8,
            ((rem / 60) % 60) as u8,
            (rem % 60) as u8,
            micro,
            Some(tz),
        )
    }

    pub fn to_us(&self, py: Python<'_>, dt: &Bound<'_, PyAny>) -> PyResult<i64> {
        use pyo3::types::{PyDateAccess, PyTimeAccess, PyTzInfoAccess};
        if let Ok(d) = dt.downcast::<PyDateTime>() {
            if let Some(tz) = d.get_tzinfo_bound() {
                if tz.is(self.utc.bind(py)) {
                    let days = days_from_civil(d.get_year() as i64, d.get_month() as u32, d.get_day() as u32);
                    let secs =
                        days * 86_400 + d.get_hour() as i64 * 3600 + d.get_minute() as i64 * 60 + d.get_second() as i64;
                    return Ok(secs * 1_000_000 + d.get_microsecond() as i64);
                }
            }
        }
        self.to_us.bind(py).call1((dt,))?.extract()
    }

    pub fn read(&self, py: Python<'_>, r: &Bound<'_, PyAny>) -> PyResult<Rep> {
        let geometry = r.getattr(intern!(py, "geometry"))?;
        let geometry = if geometry.is_none() {
            GeomKind::None
        } else if geometry.get_type().is(self.point_cls.bind(py)) {
            let c = geometry.getattr(intern!(py, "coordinates"))?;
            let c = c.downcast::<PyList>()?;
            GeomKind::Point(c.get_item(0)?.extract()?, c.get_item(1)?.extract()?)
        } else {
            GeomKind::Other
        };
        let metrics = r.getattr(intern!(py, "metrics"))?;
        let metrics = metrics.downcast::<PyDict>()?;
        let mut m = Vec::with_capacity(metrics.len());
        for (k, v) in metrics.iter() {
            m.push((s(&k)?, v.extract::<i64>()?));
        }
        let strs = |name: &Bound<'_, PyString>| -> PyResult<Vec<Str>> {
            let t = r.getattr(name)?;
            let t = t.downcast::<PyTuple>()?;
            t.iter().map(|x| s(&x)).collect()
        };
        let opt_dt = |name: &Bound<'_, PyString>| -> PyResult<Option<i64>> {
            let v = r.getattr(name)?;
            if v.is_none() {
                Ok(None)
            } else {
                self.to_us(py, &v).map(Some)
            }
        };
        Ok(Rep {
            source: s(&r.getattr(intern!(py, "source"))?)?,
            source_id: s(&r.getattr(intern!(py, "source_id"))?)?,
            category: s(&r.getattr(intern!(py, "category"))?)?,
            t_us: self.to_us(py, &r.getattr(intern!(py, "observed_at"))?)?,
            sequence: r.getattr(intern!(py, "sequence"))?.extract()?,
            msg_type: s(&r.getattr(intern!(py, "msg_type"))?)?,
            severity: s(&r.getattr(intern!(py, "severity"))?)?,
            onset_us: opt_dt(intern!(py, "onset_at"))?,
            expires_us: opt_dt(intern!(py, "expires_at"))?,
            geometry,
            area_codes: strs(intern!(py, "area_codes"))?,
            headline: opt_s(&r.getattr(intern!(py, "headline"))?)?,
            description: opt_s(&r.getattr(intern!(py, "description"))?)?,
            metrics: Arc::new(m),
            agency: opt_s(&r.getattr(intern!(py, "agency"))?)?,
            message_id: opt_s(&r.getattr(intern!(py, "message_id"))?)?,
            references: strs(intern!(py, "references"))?,
            event: opt_s(&r.getattr(intern!(py, "event"))?)?,
            feed_format: s(&r.getattr(intern!(py, "feed_format"))?)?,
        })
    }

    pub fn view_obj(&self, py: Python<'_>, v: &View) -> PyResult<PyObject> {
        Ok(match v {
            View::None => py.None(),
            View::Incident(i) => {
                let d = PyDict::new_bound(py);
                d.set_item(intern!(py, "id"), pystr(py, &i.id))?;
                d.set_item(
                    intern!(py, "status"),
                    if i.resolved { intern!(py, "resolved") } else { intern!(py, "open") },
                )?;
                d.set_item(intern!(py, "category"), pystr(py, &i.category))?;
                d.set_item(intern!(py, "severity"), self.severities[i.severity].bind(py))?;
                d.set_item(intern!(py, "title"), pystr(py, &i.title))?;
                match i.centroid {
                    None => d.set_item(intern!(py, "centroid"), py.None())?,
                    Some((x, y)) => d.set_item(intern!(py, "centroid"), PyList::new_bound(py, [x, y]))?,
                }
                d.set_item(intern!(py, "district"), opt_pystr(py, &i.district))?;
                d.set_item(intern!(py, "first_seen"), pystr(py, &i.first_seen))?;
                d.set_item(intern!(py, "last_seen"), pystr(py, &i.last_seen))?;
                match &i.resolved_at {
                    None => d.set_item(intern!(py, "resolved_at"), py.None())?,
                    Some(x) => d.set_item(intern!(py, "resolved_at"), pystr(py, x))?,
                }
                d.set_item(intern!(py, "agencies"), str_list(py, &i.agencies))?;
                let fams = PyList::empty_bound(py);
                for f in &i.families {
                    match self.families.get(&(f.as_ptr() as usize)) {
                        Some(o) => fams.append(o.bind(py))?,
                        None => fams.append(pystr(py, f))?,
                    }
                }
                d.set_item(intern!(py, "families"), fams)?;
                d.set_item(intern!(py, "metrics"), metrics_dict(py, &i.metrics)?)?;
                d.set_item(intern!(py, "warnings"), str_list(py, &i.warnings))?;
                d.set_item(intern!(py, "threads"), str_list(py, &i.threads))?;
                let links = PyList::empty_bound(py);
                for l in &i.links {
                    let ld = PyDict::new_bound(py);
                    ld.set_item(intern!(py, "thread"), pystr(py, &l.thread))?;
                    ld.set_item(intern!(py, "source"), pystr(py, &l.source))?;
                    ld.set_item(intern!(py, "agency"), pystr(py, &l.agency))?;
                    ld.set_item(intern!(py, "category"), pystr(py, &l.category))?;
                    ld.set_item(intern!(py, "severity"), self.severities[l.severity].bind(py))?;
                    ld.set_item(intern!(py, "linked_at"), pystr(py, &l.linked_at))?;
                    ld.set_item(intern!(py, "distance_m"), l.distance_m)?;
                    ld.set_item(intern!(py, "time_gap_s"), l.time_gap_s)?;
                    ld.set_item(intern!(py, "reason"), pystr(py, &l.reason))?;
                    links.append(ld)?;
                }
                d.set_item(intern!(py, "links"), links)?;
                if let Some((at, by)) = &i.acknowledged {
                    let a = PyDict::new_bound(py);
                    a.set_item(intern!(py, "at"), pystr(py, at))?;
                    a.set_item(intern!(py, "by"), pystr(py, by))?;
                    d.set_item(intern!(py, "acknowledged"), a)?;
                }
                if !i.notes.is_empty() {
                    let notes = PyList::empty_bound(py);
                    for (at, by, text) in i.notes.iter() {
                        let n = PyDict::new_bound(py);
                        n.set_item(intern!(py, "at"), pystr(py, at))?;
                        n.set_item(intern!(py, "by"), pystr(py, by))?;
                        n.set_item(intern!(py, "text"), pystr(py, text))?;
                        notes.append(n)?;
                    }
                    d.set_item(intern!(py, "notes"), notes)?;
                }
                d.into_any().unbind()
            }
            View::District(idx, v) => {
                let cfg = &self.engine.cfg;
                let d = PyDict::new_bound(py);
                d.set_item(intern!(py, "ags"), pystr(py, &cfg.districts[*idx].0))?;
                d.set_item(intern!(py, "name"), pystr(py, &cfg.districts[*idx].1))?;
                d.set_item(intern!(py, "level"), v.level)?;
                d.set_item(intern!(py, "level_reason"), pystr(py, &v.reason))?;
                d.set_item(intern!(py, "declared_level"), v.declared)?;
                let o = PyDict::new_bound(py);
                for (k, n) in SEVERITIES.iter().zip(v.counts.iter()) {
                    o.set_item(self.severities[sev_index(k)].bind(py), n)?;
                }
                d.set_item(intern!(py, "open_incidents"), o)?;
                d.set_item(intern!(py, "warnings"), str_list(py, &v.warnings))?;
                d.set_item(intern!(py, "icu_beds_free"), v.icu)?;
                d.set_item(intern!(py, "beds_free"), v.beds)?;
                d.set_item(intern!(py, "metrics"), metrics_dict(py, &v.metrics)?)?;
                d.into_any().unbind()
            }
            View::Warning(w) => {
                let d = PyDict::new_bound(py);
                d.set_item(intern!(py, "id"), pystr(py, &w.id))?;
                d.set_item(intern!(py, "status"), if w.active { "active" } else { "pending" })?;
                d.set_item(intern!(py, "category"), pystr(py, &w.category))?;
                d.set_item(intern!(py, "severity"), pystr(py, &w.severity))?;
                d.set_item(intern!(py, "headline"), opt_pystr(py, &w.headline))?;
                d.set_item(intern!(py, "description"), opt_pystr(py, &w.description))?;
                d.set_item(intern!(py, "event"), opt_pystr(py, &w.event))?;
                d.set_item(intern!(py, "source"), pystr(py, &w.source))?;
                d.set_item(intern!(py, "agency"), pystr(py, &w.agency))?;
                d.set_item(intern!(py, "onset"), pystr(py, &w.onset))?;
                d.set_item(intern!(py, "expires"), pystr(py, &w.expires))?;
                d.set_item(intern!(py, "issued"), pystr(py, &w.issued))?;
                d.set_item(intern!(py, "updated"), pystr(py, &w.updated))?;
                d.set_item(intern!(py, "districts"), str_list(py, &w.districts))?;
                d.set_item(intern!(py, "threads"), PyList::new_bound(py, [pystr(py, &w.thread)]))?;
                match &w.geometry {
                    None => d.set_item(intern!(py, "geometry"), py.None())?,
                    Some(g) => d.set_item(intern!(py, "geometry"), g.bind(py))?,
                }
                d.into_any().unbind()
            }
            View::Capacity(c) => {
                let d = PyDict::new_bound(py);
                d.set_item(intern!(py, "id"), pystr(py, &c.id))?;
                d.set_item(intern!(py, "scope"), "state")?;
                d.set_item(intern!(py, "icu_beds_free"), c.icu)?;
                d.set_item(intern!(py, "beds_free"), c.beds)?;
                d.set_item(intern!(py, "updated_at"), opt_pystr(py, &c.updated_at))?;
                d.set_item(intern!(py, "threads"), str_list(py, &c.threads))?;
                d.into_any().unbind()
            }
        })
    }

    pub fn changes(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        let out = std::mem::take(&mut self.engine.ctx.out);
        let list = PyList::empty_bound(py);
        let mut at_cache: Option<(i64, Bound<'_, PyDateTime>)> = None;
        for c in &out {
            let at = match &at_cache {
                Some((us, dt)) if *us == c.at_us => dt.clone(),
                _ => {
                    let dt = self.datetime(py, c.at_us)?;
                    at_cache = Some((c.at_us, dt.clone()));
                    dt
                }
            };
            let kw = PyDict::new_bound(py);
            kw.set_item(intern!(py, "seq"), c.seq)?;
            kw.set_item(intern!(py, "at"), at)?;
            kw.set_item(intern!(py, "late"), c.late)?;
            kw.set_item(intern!(py, "entity"), c.kind.entity())?;
            kw.set_item(intern!(py, "id"), pystr(py, &c.id))?;
            kw.set_item(intern!(py, "view"), self.view_obj(py, &c.view)?)?;
            if let Some(t) = &c.thread {
                kw.set_item(intern!(py, "thread"), pystr(py, t))?;
            }
            if let Some(r) = &c.reason {
                kw.set_item(intern!(py, "reason"), pystr(py, r))?;
            }
            if c.kind == Kind::DistrictLevelChanged {
                kw.set_item(intern!(py, "old_level"), c.old_level)?;
                kw.set_item(intern!(py, "new_level"), c.new_level)?;
            }
            let cls = self.classes[c.kind as usize].bind(py);
            list.append(cls.call((), Some(&kw))?)?;
        }
        Ok(list.into_any().unbind())
    }
}

/// msgspec's encoder for what the wire writer leaves to Python; the first error is kept.
struct PyFallback<'py> {
    encode: Bound<'py, PyAny>,
    error: std::cell::RefCell<Option<PyErr>>,
}

impl PyFallback<'_> {
    fn encode(&self, value: impl ToPyObject) -> Vec<u8> {
        let py = self.encode.py();
        match self.encode.call1((value.to_object(py),)).and_then(|b| b.extract::<Vec<u8>>()) {
            Ok(b) => b,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                vec![]
            }
        }
    }
}

impl crate::wire::Fallback for PyFallback<'_> {
    fn float(&self, x: f64) -> Vec<u8> {
        self.encode(x)
    }
    fn geometry(&self, g: &PyObject) -> Vec<u8> {
        self.encode(g)
    }
}

impl Core {
    /// The changes of the step as EncodedChange(seq, at, kind, entity, entity_id, payload),
    /// the payload written by crate::wire.
    pub fn encoded(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        let out = std::mem::take(&mut self.engine.ctx.out);
        let fallback = PyFallback { encode: self.encode.bind(py).clone(), error: Default::default() };
        let mut w = crate::wire::Writer {
            buf: std::mem::take(&mut self.wire),
            fallback: &fallback,
            districts: &self.engine.cfg.districts,
        };
        let cls = self.encoded_cls.bind(py);
        let list = PyList::empty_bound(py);
        let mut at_cache: Option<(i64, Bound<'_, PyDateTime>)> = None;
        let mut result = Ok(());
        for c in &out {
            let at = match &at_cache {
                Some((us, dt)) if *us == c.at_us => dt.clone(),
                _ => {
                    let dt = self.datetime(py, c.at_us)?;
                    at_cache = Some((c.at_us, dt.clone()));
                    dt
                }
            };
            w.change(c);
            if let Some(e) = fallback.error.borrow_mut().take() {
                result = Err(e);
                break;
            }
            let seq = c.seq.into_py(py);
            let id = pystr(py, &c.id);
            let payload = pyo3::types::PyBytes::new_bound(py, &w.buf);
            let args = [
                seq.as_ptr(),
                at.as_ptr(),
                self.kind_names[c.kind as usize].as_ptr(),
                self.entities[c.kind as usize].as_ptr(),
                id.as_ptr(),
                payload.as_ptr(),
            ];
            // EncodedChange(seq, at, kind, entity, entity_id, payload), by vectorcall (no tuple)
            // SAFETY: the six arguments are live for the call (held above); the result is a new
            // reference or NULL with the error set.
            let made = unsafe {
                let ret = pyo3::ffi::PyObject_Vectorcall(cls.as_ptr(), args.as_ptr(), args.len(), std::ptr::null_mut());
                Bound::from_owned_ptr_or_err(py, ret)
            };
            match made.and_then(|e| list.append(e)) {
                Ok(()) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.wire = w.buf;
        result?;
        Ok(list.into_any().unbind())
    }
}
