//! The engine configuration from the dict correlation/native/config.py builds out of Rules and
//! Districts, and the Python callbacks for the geometry that stays in shapely.

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use crate::prelude::*;

pub fn s(v: &Bound<'_, PyAny>) -> PyResult<Str> {
    Ok(Arc::from(v.downcast::<PyString>()?.to_str()?))
}

pub fn opt_s(v: &Bound<'_, PyAny>) -> PyResult<Option<Str>> {
    if v.is_none() {
        Ok(None)
    } else {
        s(v).map(Some)
    }
}

pub fn build_config(py: Python<'_>, c: &Bound<'_, PyDict>) -> PyResult<Config> {
    let get =
        |k: &str| -> PyResult<Bound<'_, PyAny>> { c.get_item(k)?.ok_or_else(|| PyKeyError::new_err(k.to_string())) };
    let _ = py;
    let families: Vec<String> = get("families")?.extract()?;
    let families: Vec<Str> = families.into_iter().map(Arc::from).collect();
    let nf = families.len();
    let mut pairs = vec![vec![None; nf]; nf];
    for (a, b, r, w) in get("pairs")?.extract::<Vec<(usize, usize, f64, i64)>>()? {
        pairs[a][b] = Some(Pair { radius_m: r, window_us: w });
    }
    // escalation: engine/escalation.py Evaluator
    let raw: Vec<(i64, Vec<(String, String, f64)>, String)> = get("escalation")?.extract()?;
    let mut metrics: Vec<String> = raw.iter().flat_map(|r| r.1.iter().map(|c| c.0.clone())).collect();
    metrics.sort();
    metrics.dedup();
    let sev = |m: &str| SEVERITIES.iter().position(|x| *x == m).unwrap();
    let vars: Vec<(String, MetricExpr)> = metrics
        .iter()
        .map(|m| {
            let e = if m == "incidents_open" {
                MetricExpr::IncidentsOpen
            } else if m == "warnings_active" {
                MetricExpr::WarningsActive
            } else if let Some(x) = m.strip_prefix("incidents_") {
                MetricExpr::Count(sev(x))
            } else if let Some(x) = m.strip_prefix("warnings_") {
                MetricExpr::WCount(sev(x))
            } else if m == "casualties" {
                MetricExpr::Casualties
            } else if m == "icu_beds_free" {
                MetricExpr::Icu
            } else if m == "beds_free" {
                MetricExpr::Beds
            } else {
                MetricExpr::Sum(m.strip_prefix("metrics.").unwrap_or(m).to_string())
            };
            (m.clone(), e)
        })
        .collect();
    let mut ordered: Vec<(usize, &(i64, Vec<(String, String, f64)>, String))> = raw.iter().enumerate().collect();
    ordered.sort_by_key(|(i, r)| (-r.0, *i));
    let rules = ordered
        .into_iter()
        .map(|(_, r)| Rule {
            level: r.0,
            conds: r
                .1
                .iter()
                .map(|(m, op, v)| Cond { var: metrics.iter().position(|x| x == m).unwrap(), op: op.clone(), value: *v })
                .collect(),
            text: r.2.clone(),
        })
        .collect();
    let districts: Vec<(String, String)> = get("districts")?.extract()?;
    let grid = get("grid")?;
    let grid = grid.downcast::<PyDict>()?;
    let g =
        |k: &str| -> PyResult<Bound<'_, PyAny>> { grid.get_item(k)?.ok_or_else(|| PyKeyError::new_err(k.to_string())) };
    let cands: std::collections::HashMap<i64, Vec<usize>> = g("candidates")?.extract()?;
    let locator = Locator {
        x0: g("x0")?.extract()?,
        y0: g("y0")?.extract()?,
        x1: g("x1")?.extract()?,
        y1: g("y1")?.extract()?,
        nx: g("nx")?.extract()?,
        kx: g("kx")?.extract()?,
        ky: g("ky")?.extract()?,
        cells: g("cells")?.extract()?,
        candidates: cands.into_iter().collect(),
        polygons: get("polygons")?.extract()?,
    };
    let str_vec = |k: &str| -> PyResult<Vec<String>> { get(k)?.extract() };
    Ok(Config {
        status: get("status")?.extract()?,
        families,
        group_names: str_vec("group_names")?.into_iter().map(Arc::from).collect(),
        group_of: get("group_of")?.extract()?,
        quiet_us: get("quiet_us")?.extract()?,
        cell_m: get("cell_m")?.extract()?,
        scans: get("scans")?.extract()?,
        pairs,
        m_per_deg: get("m_per_deg")?.extract()?,
        x_scale: get("x_scale")?.extract()?,
        allowed_lateness_us: get("allowed_lateness_us")?.extract()?,
        close_after_us: get("close_after_us")?.extract()?,
        warning_duration_us: get("warning_duration_us")?.extract()?,
        move_out_factor: get("move_out_factor")?.extract()?,
        warning_families: get("warning_families")?.extract()?,
        warning_sources: str_vec("warning_sources")?,
        warning_formats: str_vec("warning_formats")?,
        capacity_families: get("capacity_families")?.extract()?,
        vars,
        rules,
        districts: districts.into_iter().map(|(a, n)| (Arc::from(a), Arc::from(n))).collect(),
        locator,
    })
}

/// The shapely callbacks of one engine call. The engine cannot unwind from the middle of a
/// step, so an exception in a callback is kept, the callback answers "nothing there", and the
/// call raises it when the engine returns (`finish`) — an ordinary exception as in the Python
/// engine, not a Rust panic that `except Exception` would miss.
pub struct PyGeo<'a, 'py> {
    pub helper: &'a Bound<'py, PyAny>,
    pub report: Option<&'a Bound<'py, PyAny>>,
    /// A line `reader` read: decoded by ingest.report (the same report) only when a callback
    /// needs it, which is rare (area codes without a point, warnings).
    pub line: Option<&'a Bound<'py, PyBytes>>,
    pub decoded: std::cell::OnceCell<Bound<'py, PyAny>>,
    pub error: std::cell::RefCell<Option<PyErr>>,
}

impl<'a, 'py> PyGeo<'a, 'py> {
    pub fn new(helper: &'a Bound<'py, PyAny>, report: Option<&'a Bound<'py, PyAny>>) -> Self {
        PyGeo { helper, report, line: None, decoded: std::cell::OnceCell::new(), error: std::cell::RefCell::new(None) }
    }

    pub fn of_line(helper: &'a Bound<'py, PyAny>, line: &'a Bound<'py, PyBytes>) -> Self {
        PyGeo { line: Some(line), ..PyGeo::new(helper, None) }
    }

    fn call<T>(&self, result: impl FnOnce() -> PyResult<T>, default: T) -> T {
        match result() {
            Ok(v) => v,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                default
            }
        }
    }

    /// The first exception a callback raised, if any.
    pub fn finish(self) -> PyResult<()> {
        match self.error.into_inner() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    fn report(&self) -> PyResult<Bound<'py, PyAny>> {
        if let Some(report) = self.report {
            return Ok(report.clone());
        }
        let Some(line) = self.line else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err("no report at hand"));
        };
        if let Some(report) = self.decoded.get() {
            return Ok(report.clone());
        }
        let report = self.helper.call_method1("decode", (line,))?;
        Ok(self.decoded.get_or_init(|| report).clone())
    }
}

impl Geo for PyGeo<'_, '_> {
    fn point_of(&self) -> Option<(f64, f64)> {
        self.call(|| self.helper.call_method1("point_of", (self.report()?,))?.extract(), None)
    }

    fn warning_geo(&self) -> (Option<PyObject>, Vec<Str>, Option<PyObject>, Option<[f64; 4]>) {
        let read = || -> PyResult<_> {
            let r = self.helper.call_method1("warning_geo", (self.report()?,))?;
            let t = r.downcast::<PyTuple>()?;
            let geometry = t.get_item(0)?;
            let geometry = if geometry.is_none() { None } else { Some(geometry.unbind()) };
            let districts: Vec<String> = t.get_item(1)?.extract()?;
            let area = t.get_item(2)?;
            let area = if area.is_none() { None } else { Some(area.unbind()) };
            let bounds: Option<(f64, f64, f64, f64)> = t.get_item(3)?.extract()?;
            Ok((geometry, districts.into_iter().map(Arc::from).collect(), area, bounds.map(|b| [b.0, b.1, b.2, b.3])))
        };
        self.call(read, (None, vec![], None, None))
    }

    fn contains(&self, area: &PyObject, lon: f64, lat: f64) -> bool {
        GeoCall::contains(self, area, lon, lat)
    }

    fn intersecting(&self) -> Vec<Str> {
        let read = || -> PyResult<Vec<Str>> {
            let v: Vec<String> = self.helper.call_method1("intersecting", (self.report()?,))?.extract()?;
            Ok(v.into_iter().map(Arc::from).collect())
        };
        self.call(read, vec![])
    }
}

impl GeoCall for PyGeo<'_, '_> {
    fn contains(&self, area: &PyObject, lon: f64, lat: f64) -> bool {
        let py = self.helper.py();
        self.call(|| self.helper.call_method1("contains", (area.bind(py), lon, lat))?.is_truthy(), false)
    }
}
