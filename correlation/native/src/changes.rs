//! What the engine emits: changes and the views they carry (correlation/changes.py).

use crate::prelude::*;

// ---- changes ---------------------------------------------------------------------------------

pub struct LinkView {
    pub thread: Str,
    pub source: Str,
    pub agency: Str,
    pub category: Str,
    pub severity: usize,
    pub linked_at: Str,
    pub distance_m: f64,
    pub time_gap_s: i64,
    pub reason: Str,
    /// its JSON (crate::wire), written once per link version: a link view is shared by every
    /// change of its incident until the link changes
    pub json: std::sync::OnceLock<Box<[u8]>>,
}

pub struct IncidentView {
    pub id: Str,
    pub resolved: bool,
    pub category: Str,
    pub severity: usize,
    pub title: Str,
    pub centroid: Option<(f64, f64)>,
    pub district: Option<Str>,
    pub first_seen: Str,
    pub last_seen: Str,
    pub resolved_at: Option<String>,
    pub agencies: Vec<Str>,
    pub families: Vec<Str>,
    pub metrics: Metrics,
    pub warnings: Arc<Vec<Str>>,
    pub threads: Vec<Str>,
    pub links: Vec<Arc<LinkView>>,
    pub acknowledged: Option<(Str, Str)>,
    pub notes: Arc<Vec<(Str, Str, Str)>>,
}

#[derive(Clone, PartialEq)]
pub struct DistrictView {
    pub level: i64,
    pub reason: String,
    pub declared: Option<i64>,
    pub counts: [i64; 5],
    pub warnings: Arc<Vec<Str>>,
    pub icu: Option<i64>,
    pub beds: Option<i64>,
    pub metrics: Arc<Vec<(Str, i64)>>,
}

pub struct WarningView {
    pub id: Str,
    pub active: bool,
    pub category: Str,
    pub severity: Str,
    pub headline: Option<Str>,
    pub description: Option<Str>,
    pub event: Option<Str>,
    pub source: Str,
    pub agency: Str,
    pub onset: String,
    pub expires: String,
    pub issued: Str,
    pub updated: Str,
    pub districts: Arc<Vec<Str>>,
    pub thread: Str,
    pub geometry: Option<pyo3::PyObject>,
}

pub struct CapacityView {
    pub id: Str,
    pub icu: Option<i64>,
    pub beds: Option<i64>,
    pub updated_at: Option<Str>,
    pub threads: Vec<Str>,
}

pub enum View {
    None,
    Incident(Box<IncidentView>),
    District(usize, Arc<DistrictView>),
    Warning(Box<WarningView>),
    Capacity(Box<CapacityView>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    IncidentOpened,
    IncidentUpdated,
    IncidentResolved,
    IncidentReopened,
    IncidentClosed,
    IncidentCancelled,
    WarningIssued,
    WarningUpdated,
    WarningExpired,
    WarningCancelled,
    CapacityUpdated,
    DistrictUpdated,
    DistrictLevelChanged,
}

pub struct Change {
    pub kind: Kind,
    pub seq: i64,
    pub at_us: i64,
    pub late: bool,
    pub id: Str,
    pub view: View,
    pub thread: Option<Str>,
    pub reason: Option<Str>, // None: the class default (not passed)
    pub old_level: i64,
    pub new_level: i64,
}

impl Kind {
    pub fn entity(self) -> &'static str {
        match self {
            Kind::IncidentOpened
            | Kind::IncidentUpdated
            | Kind::IncidentResolved
            | Kind::IncidentReopened
            | Kind::IncidentClosed
            | Kind::IncidentCancelled => "incident",
            Kind::WarningIssued | Kind::WarningUpdated | Kind::WarningExpired | Kind::WarningCancelled => "warning",
            Kind::CapacityUpdated => "capacity",
            Kind::DistrictUpdated | Kind::DistrictLevelChanged => "district",
        }
    }
}
