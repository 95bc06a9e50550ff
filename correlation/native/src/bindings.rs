//! The Python class `Core` that correlation/native/__init__.py wraps as NativeEngine.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::prelude::*;
use crate::pyconfig::*;
use crate::pyviews::*;
use crate::reader;
use crate::snapshot::Classes;

#[pyclass]
pub struct Core {
    pub engine: Engine,
    pub helper: PyObject,
    pub classes: Vec<PyObject>, // by Kind as usize
    pub utc: PyObject,
    pub point_cls: PyObject,
    pub to_us: PyObject,
    pub rfc3339: PyObject,
    // interned Python strings for the views
    pub severities: Vec<PyObject>,
    pub families: FxHashMap<usize, PyObject>, // by the address of the configured family name
    // process_encoded/advance_encoded: correlation.changes.EncodedChange, the class names and
    // entities as interned strings (by Kind as usize), msgspec's encoder for the rare values
    // written in Python, and the payload buffer
    pub encoded_cls: PyObject,
    pub kind_names: Vec<PyObject>,
    pub entities: Vec<PyObject>,
    pub encode: PyObject,
    pub wire: Vec<u8>,
}

#[pymethods]
impl Core {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>, helper: PyObject, changes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let cfg = build_config(py, config)?;
        let classes =
            KINDS.iter().map(|k| changes.getattr(kind_name(*k)).map(|c| c.unbind())).collect::<PyResult<Vec<_>>>()?;
        let utc = py.import_bound("datetime")?.getattr("timezone")?.getattr("utc")?.unbind();
        let point_cls = py.import_bound("ingest.report")?.getattr("Point")?.unbind();
        let clock = py.import_bound("correlation.clock")?;
        let severities = SEVERITIES.iter().map(|x| PyString::intern_bound(py, x).into_any().unbind()).collect();
        let mut families = FxHashMap::default();
        for f in &cfg.families {
            families.insert(f.as_ptr() as usize, PyString::intern_bound(py, f).into_any().unbind());
        }
        let kind_names = KINDS.iter().map(|k| PyString::intern_bound(py, kind_name(*k)).into_any().unbind()).collect();
        let entities = KINDS.iter().map(|k| PyString::intern_bound(py, k.entity()).into_any().unbind()).collect();
        let encode = py.import_bound("msgspec.json")?.getattr("Encoder")?.call0()?.getattr("encode")?.unbind();
        Ok(Core {
            encoded_cls: changes.getattr("EncodedChange")?.unbind(),
            kind_names,
            entities,
            encode,
            wire: Vec::with_capacity(4096),
            engine: Engine::new(cfg),
            helper,
            classes,
            utc,
            point_cls,
            to_us: clock.getattr("to_us")?.unbind(),
            rfc3339: clock.getattr("rfc3339")?.unbind(),
            severities,
            families,
        })
    }

    fn process(&mut self, py: Python<'_>, report: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        if !self.apply(py, report)? {
            return Ok(PyList::empty_bound(py).into_any().unbind());
        }
        self.changes(py)
    }

    fn advance(&mut self, py: Python<'_>, now: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.advance_step(py, now)?;
        self.changes(py)
    }

    /// process, the changes as EncodedChange (payload written here, no Change objects).
    fn process_encoded(&mut self, py: Python<'_>, report: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        if !self.apply(py, report)? {
            return Ok(PyList::empty_bound(py).into_any().unbind());
        }
        self.encoded(py)
    }

    /// One log entry: the clock advances to its receipt time, if it has one, then the report
    /// applies; the changes of both as EncodedChange.
    fn process_entry(&mut self, py: Python<'_>, report: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.entry(py, report)?;
        self.encoded(py)
    }

    /// process_entry of a canonical JSON line. A line the reader cannot vouch for goes through
    /// ingest.report.decode_report, which raises ReportInvalid for a bad one (and then nothing
    /// has changed).
    fn process_line(&mut self, py: Python<'_>, line: &Bound<'_, PyBytes>) -> PyResult<PyObject> {
        let helper = self.helper.bind(py).clone();
        let Some(read) = reader::read(line.as_bytes()) else {
            let report = helper.call_method1(intern!(py, "decode"), (line,))?;
            return self.process_entry(py, &report);
        };
        if let Some(received_us) = read.received_us {
            self.advance_to(py, received_us)?;
        }
        if read.status == self.engine.cfg.status {
            let geo = PyGeo::of_line(&helper, line);
            self.engine.process(&read.rep, &geo, &geo, py);
            self.raised(geo)?;
        }
        self.encoded(py)
    }

    /// advance, the changes as EncodedChange.
    fn advance_encoded(&mut self, py: Python<'_>, now: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.advance_step(py, now)?;
        self.encoded(py)
    }

    fn resolve(&mut self, py: Python<'_>, ident: &str, at: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.operator(py, ident, at, false)
    }

    fn reopen(&mut self, py: Python<'_>, ident: &str, at: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.operator(py, ident, at, true)
    }

    fn seq(&self) -> i64 {
        self.engine.ctx.seq
    }

    fn picture(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        let as_of: PyObject = match self.engine.ctx.clock_us {
            None => py.None(),
            Some(c) => self.rfc3339.bind(py).call1((c,))?.unbind(),
        };
        let incidents = PyList::empty_bound(py);
        for id in self.engine.incident_ids() {
            let v = self.engine.view(&id);
            incidents.append(self.view_obj(py, &v)?)?;
        }
        let warnings = PyList::empty_bound(py);
        for v in self.engine.warning_views(py) {
            warnings.append(self.view_obj(py, &v)?)?;
        }
        let districts = PyList::empty_bound(py);
        for i in 0..self.engine.board.districts.len() {
            let v = View::District(i, self.engine.board.districts[i].view.clone());
            districts.append(self.view_obj(py, &v)?)?;
        }
        let capacity = PyList::empty_bound(py);
        for v in self.engine.capacity_views() {
            capacity.append(self.view_obj(py, &v)?)?;
        }
        Ok(PyTuple::new_bound(
            py,
            [
                self.engine.ctx.seq.into_py(py),
                as_of,
                incidents.into_any().unbind(),
                warnings.into_any().unbind(),
                districts.into_any().unbind(),
                capacity.into_any().unbind(),
            ],
        )
        .into_any()
        .unbind())
    }

    fn clock_us(&self) -> Option<i64> {
        self.engine.ctx.clock_us
    }

    fn is_live(&self, ident: &str) -> bool {
        self.engine.live.contains_key(ident)
    }

    /// The threads of a live incident, None if it is not live (for NativeEngine.check).
    fn threads_of(&self, ident: &str) -> Option<Vec<String>> {
        self.engine.live.get(ident).map(|i| i.links.keys().map(|t| t.to_string()).collect())
    }

    fn has_district(&self, ags: &str) -> bool {
        self.engine.district_index.contains_key(ags)
    }

    // -- operator actions: NativeEngine.act drives these in Engine.act's order ------------------

    /// Clock to `at`, timers up to the watermark; the step of the action starts.
    fn begin_action(&mut self, py: Python<'_>, at: &Bound<'_, PyAny>) -> PyResult<()> {
        self.engine.ctx.out.clear();
        let at_us = self.to_us(py, at)?;
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        self.engine.begin_action(at_us, &geo, py);
        self.raised(geo)
    }

    /// District figures and timers after the action; the changes of the whole action.
    fn end_action(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        self.engine.end_action(&geo, py);
        self.raised(geo)?;
        self.changes(py)
    }

    /// The changes so far (an action made moot by its own timers ends here).
    fn take(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        self.changes(py)
    }

    /// Drop what an action emitted before it failed (the Python engine loses it the same way).
    fn discard(&mut self) {
        self.engine.ctx.out.clear();
    }

    fn acknowledge(&mut self, ident: &str, actor: &str) {
        let at_us = self.engine.ctx.at_us;
        self.engine.acknowledge(ident, at_us, actor);
    }

    /// False if the incident has no room for another note.
    fn note(&mut self, ident: &str, actor: &str, text: &str) -> bool {
        let at_us = self.engine.ctx.at_us;
        self.engine.note(ident, at_us, actor, text)
    }

    fn set_status(&mut self, py: Python<'_>, ident: &str, status: &str) -> PyResult<()> {
        let at_us = self.engine.ctx.at_us;
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        self.engine.set_status(ident, at_us, status, &geo);
        self.raised(geo)
    }

    fn merge(&mut self, py: Python<'_>, target: &str, other: &str) -> PyResult<()> {
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        self.engine.merge(target, other, &geo);
        self.raised(geo)
    }

    fn split(&mut self, py: Python<'_>, ident: &str, thread: &str) -> PyResult<()> {
        let at_us = self.engine.ctx.at_us;
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        self.engine.split(ident, thread, at_us, &geo);
        self.raised(geo)
    }

    #[pyo3(signature = (ags, level, reason))]
    fn declare(&mut self, ags: &str, level: Option<i64>, reason: String) -> PyResult<()> {
        let Some(&d) = self.engine.district_index.get(ags) else {
            return Err(pyo3::exceptions::PyKeyError::new_err(ags.to_string()));
        };
        self.engine.declare(d, level, reason);
        Ok(())
    }

    // -- snapshots (correlation/native/src/snapshot.rs) -----------------------------------------

    /// The state as the Python engine's structs: (seqs, canon, alias, threads, incidents,
    /// warnings, capacity, declared).
    fn export<'py>(
        &self,
        py: Python<'py>,
        incident: Bound<'py, PyAny>,
        link: Bound<'py, PyAny>,
        warning: Bound<'py, PyAny>,
        entry: Bound<'py, PyAny>,
        thread: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let classes = Classes { incident, link, warning, entry, thread };
        self.engine.export(py, &classes)
    }

    /// Load a decoded snapshot into this fresh engine.
    fn load(&mut self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let area = self.helper.bind(py).getattr("area")?;
        self.engine.load(state, &area)
    }
}

impl Core {
    /// Applies a report of the engine's status (false: another status, ignored); the changes
    /// wait in the context for `changes` or `encoded`.
    fn apply(&mut self, py: Python<'_>, report: &Bound<'_, PyAny>) -> PyResult<bool> {
        let status = report.getattr(intern!(py, "status"))?;
        if status.downcast::<PyString>()?.to_str()? != self.engine.cfg.status {
            return Ok(false);
        }
        let rep = self.read(py, report)?;
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, Some(report));
        self.engine.process(&rep, &geo, &geo, py);
        self.raised(geo)?;
        Ok(true)
    }

    fn advance_step(&mut self, py: Python<'_>, now: &Bound<'_, PyAny>) -> PyResult<()> {
        let now_us = self.to_us(py, now)?;
        self.advance_to(py, now_us)
    }

    fn advance_to(&mut self, py: Python<'_>, now_us: i64) -> PyResult<()> {
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        self.engine.advance(now_us, &geo, py);
        self.raised(geo)
    }

    /// A log entry: the clock to its receipt time (if it has one), then the report.
    fn entry(&mut self, py: Python<'_>, report: &Bound<'_, PyAny>) -> PyResult<()> {
        let received = report.getattr(intern!(py, "received_at"))?;
        if !received.is_none() {
            self.advance_step(py, &received)?;
        }
        self.apply(py, report).map(|_| ())
    }

    /// An exception of a shapely callback during the call: raised, and the call's changes
    /// dropped (the Python engine loses them the same way).
    fn raised(&mut self, geo: PyGeo<'_, '_>) -> PyResult<()> {
        geo.finish().inspect_err(|_| self.engine.ctx.out.clear())
    }

    fn operator(&mut self, py: Python<'_>, ident: &str, at: &Bound<'_, PyAny>, reopen: bool) -> PyResult<PyObject> {
        let at_us = self.to_us(py, at)?;
        let helper = self.helper.bind(py).clone();
        let geo = PyGeo::new(&helper, None);
        if !self.engine.operator(ident, at_us, reopen, &geo, py) {
            let err = py.import_bound("correlation.errors")?.getattr("UnknownIncident")?.call1((ident,))?;
            return Err(PyErr::from_value_bound(err));
        }
        self.raised(geo)?;
        self.changes(py)
    }
}
