//! A report as the engine reads it, and the shapely callbacks for rare geometry paths.

use crate::prelude::*;

// ---- the report, as the engine reads it --------------------------------------------------------

pub enum GeomKind {
    None,
    Point(f64, f64),
    Other,
}

pub struct Rep {
    pub source: Str,
    pub source_id: Str,
    pub category: Str,
    pub t_us: i64,
    pub sequence: i64,
    pub msg_type: Str,
    pub severity: Str,
    pub onset_us: Option<i64>,
    pub expires_us: Option<i64>,
    pub geometry: GeomKind,
    pub area_codes: Vec<Str>,
    pub headline: Option<Str>,
    pub description: Option<Str>,
    pub metrics: Metrics,
    pub agency: Option<Str>,
    pub message_id: Option<Str>,
    pub references: Vec<Str>,
    pub event: Option<Str>,
    pub feed_format: Str,
}

/// Python callbacks for what stays in Python (shapely).
pub trait Geo {
    /// engine._obs: representative point of a polygon geometry or of the area codes
    fn point_of(&self) -> Option<(f64, f64)>;
    /// warnings._build/_prepare: (geometry view, districts, area handle, bounds)
    fn warning_geo(&self) -> (Option<pyo3::PyObject>, Vec<Str>, Option<pyo3::PyObject>, Option<[f64; 4]>);
    fn contains(&self, area: &pyo3::PyObject, lon: f64, lat: f64) -> bool;
    fn intersecting(&self) -> Vec<Str>;
}

/// What the warning layer needs outside a report: shapely's contains_xy.
pub trait GeoCall {
    fn contains(&self, area: &pyo3::PyObject, lon: f64, lat: f64) -> bool;
}
