//! The rules and districts as the engine reads them, built once from Python.

use crate::prelude::*;

// ---- configuration ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
pub struct Pair {
    pub radius_m: f64,
    pub window_us: i64,
}

pub enum MetricExpr {
    IncidentsOpen,
    WarningsActive,
    Count(usize),
    WCount(usize),
    Casualties,
    Icu,
    Beds,
    Sum(String),
}

pub struct Cond {
    pub var: usize,
    pub op: String,
    pub value: f64,
}

pub struct Rule {
    pub level: i64,
    pub conds: Vec<Cond>,
    pub text: String,
}

pub struct Config {
    pub status: String,
    pub families: Vec<Str>,
    pub group_names: Vec<Str>,
    pub group_of: Vec<i64>,
    pub quiet_us: Vec<i64>,
    pub cell_m: Vec<f64>,
    pub scans: Vec<Vec<(usize, f64)>>,
    pub pairs: Vec<Vec<Option<Pair>>>,
    pub m_per_deg: f64,
    pub x_scale: f64,
    pub allowed_lateness_us: i64,
    pub close_after_us: i64,
    pub warning_duration_us: i64,
    pub move_out_factor: f64,
    pub warning_families: Vec<usize>,
    pub warning_sources: Vec<String>,
    pub warning_formats: Vec<String>,
    pub capacity_families: Vec<usize>,
    pub vars: Vec<(String, MetricExpr)>,
    pub rules: Vec<Rule>, // ordered highest level first, then file order
    pub districts: Vec<(Str, Str)>,
    pub locator: Locator,
}

impl Config {
    pub fn family(&self, name: &str) -> Option<usize> {
        self.families.iter().position(|f| &**f == name)
    }
}
