//! Incidents and their linked threads (correlation/incident_state.py).

use crate::prelude::*;

// ---- incidents -------------------------------------------------------------------------------

pub struct Obs {
    pub thread: Str,
    pub key: String,
    pub source: Str,
    pub agency: Str,
    pub family: usize,
    pub category: Str,
    pub severity: usize,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub t_us: i64,
    pub t_str: Str,
    pub sequence: i64,
    pub metrics: Metrics,
    pub headline: Option<Str>,
    pub cancel: bool,
}

pub struct Link {
    pub source: Str,
    pub agency: Str,
    pub family: usize,
    pub category: Str,
    pub severity: usize,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub seen_us: i64,
    pub seen: Str,
    pub sequence: i64,
    pub metrics: Metrics,
    pub headline: Option<Str>,
    pub order: i64,
    pub linked_at: Str,
    pub distance_m: f64,
    pub time_gap_s: i64,
    pub reason: Str,
    pub pinned: bool,
    pub view: Option<Arc<LinkView>>, // cache (incidents._link_views)
}

impl Link {
    pub fn rank(&self) -> i64 {
        5 - self.severity as i64
    }
    pub fn view(&mut self, thread: &Str) -> Arc<LinkView> {
        if let Some(v) = &self.view {
            return v.clone();
        }
        let v = Arc::new(LinkView {
            thread: thread.clone(),
            source: self.source.clone(),
            agency: self.agency.clone(),
            category: self.category.clone(),
            severity: self.severity,
            linked_at: self.linked_at.clone(),
            distance_m: self.distance_m,
            time_gap_s: self.time_gap_s,
            reason: self.reason.clone(),
            json: Default::default(),
        });
        self.view = Some(v.clone());
        v
    }
}

pub struct Incident {
    pub id: Str,
    pub order: u64, // position in the live dict
    pub resolved: bool,
    pub links: IndexMap<Str, Link>,
    pub families: Vec<(usize, i64)>, // dict in insertion order
    pub first_us: i64,
    pub first: Str,
    pub last_us: i64,
    pub last: Str,
    pub active_us: i64,
    pub due_us: i64,
    pub resolved_us: Option<i64>,
    pub next_order: i64,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub district: Option<usize>,
    pub warnings: Arc<Vec<Str>>,
    pub severity: usize,
    pub category: Str,
    pub title: Str,
    pub metrics: Metrics,
    pub cells: Vec<(usize, i64)>,
    pub acknowledged: Option<(Str, Str)>, // (at, by)
    pub notes: Arc<Vec<(Str, Str, Str)>>, // (at, by, text)
}

impl Incident {
    /// A new open incident of one thread (opened by a report, or split out by an operator):
    /// the derived fields stay empty until the layer settles it.
    pub fn alone(id: Str, order: u64, thread: Str, link: Link, active_us: i64) -> Incident {
        Incident {
            id,
            order,
            resolved: false,
            families: vec![(link.family, 1)],
            first_us: link.seen_us,
            first: link.seen.clone(),
            last_us: link.seen_us,
            last: link.seen.clone(),
            active_us,
            due_us: -1,
            resolved_us: None,
            next_order: 1,
            lon: None,
            lat: None,
            district: None,
            warnings: empty_list(),
            severity: 4,
            category: "".into(),
            title: "".into(),
            metrics: EMPTY_METRICS.with(|e| e.clone()),
            cells: vec![],
            acknowledged: None,
            notes: Arc::new(vec![]),
            links: IndexMap::from([(thread, link)]),
        }
    }
}

pub fn fam_add(families: &mut Vec<(usize, i64)>, f: usize) {
    if let Some(e) = families.iter_mut().find(|e| e.0 == f) {
        e.1 += 1;
    } else {
        families.push((f, 1));
    }
}

pub fn fam_uncount(families: &mut Vec<(usize, i64)>, f: usize) {
    let p = families.iter().position(|e| e.0 == f).unwrap();
    families[p].1 -= 1;
    if families[p].1 == 0 {
        families.remove(p);
    }
}

pub fn sha1_id(prefix: &str, key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    let d = h.digest().bytes();
    let mut out = String::with_capacity(16);
    out.push_str(prefix);
    for b in &d[..6] {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

pub fn incident_id(key: &str) -> String {
    sha1_id("inc-", key)
}

pub fn warning_id(thread: &str) -> String {
    sha1_id("wrn-", thread)
}

pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

pub fn metrics_eq(a: &Metrics, b: &Metrics) -> bool {
    if Arc::ptr_eq(a, b) {
        return true;
    }
    a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k2 == k && v2 == v))
}
