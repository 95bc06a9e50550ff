//! The district board: contributions, escalation rules, declared levels
//! (correlation/escalation.py).

use crate::prelude::*;

// ---- the district board (escalation.py) --------------------------------------------------------

pub const R_CAPACITY: u8 = 1;
pub const R_DECLARED: u8 = 2;
pub const R_INCIDENTS: u8 = 4;
pub const R_WARNINGS: u8 = 8;

pub struct District {
    pub counts: [i64; 5],
    pub metrics: Vec<(Str, i64)>, // insertion order
    pub warnings: FxHashMap<Str, usize>,
    pub wcounts: [i64; 5],
    pub icu: Option<i64>,
    pub beds: Option<i64>,
    pub level: i64,
    pub view: Arc<DistrictView>,
    pub shown_metrics: Option<Arc<Vec<(Str, i64)>>>,
    pub shown_warnings: Option<Arc<Vec<Str>>>,
}

pub struct Board {
    pub districts: Vec<District>,
    incidents: FxHashMap<Str, (usize, usize, Metrics)>,
    warnings: FxHashMap<Str, (Vec<usize>, usize)>,
    pub dirty: std::collections::BTreeMap<usize, u8>,
    pub declared: IndexMap<usize, (i64, String)>, // insertion order, as the snapshot keeps it
}

impl Board {
    pub fn new(cfg: &Config) -> Self {
        let empty_view = Arc::new(DistrictView {
            level: 0,
            reason: String::new(),
            declared: None,
            counts: [0; 5],
            warnings: Arc::new(vec![]),
            icu: None,
            beds: None,
            metrics: Arc::new(vec![]),
        });
        let mut b = Board {
            districts: cfg
                .districts
                .iter()
                .map(|_| District {
                    counts: [0; 5],
                    metrics: vec![],
                    warnings: FxHashMap::default(),
                    wcounts: [0; 5],
                    icu: None,
                    beds: None,
                    level: 0,
                    view: empty_view.clone(),
                    shown_metrics: None,
                    shown_warnings: None,
                })
                .collect(),
            incidents: FxHashMap::default(),
            warnings: FxHashMap::default(),
            dirty: Default::default(),
            declared: IndexMap::new(),
        };
        for i in 0..b.districts.len() {
            let v = b.compute_view(cfg, i);
            b.districts[i].view = Arc::new(v);
        }
        b
    }

    pub fn touch(&mut self, d: usize, why: u8) {
        *self.dirty.entry(d).or_insert(0) |= why;
    }

    pub fn incident(&mut self, ident: &Str, ags: Option<usize>, severity: usize, metrics: &Metrics) {
        let new = ags.map(|a| (a, severity, metrics.clone()));
        let old = self.incidents.get(ident);
        match (&old, &new) {
            (None, None) => return,
            (Some(o), Some(n)) if o.0 == n.0 && o.1 == n.1 && metrics_eq(&o.2, &n.2) => return,
            _ => {}
        }
        if let Some((d, s, m)) = old.cloned() {
            let district = &mut self.districts[d];
            district.counts[s] -= 1;
            if !m.is_empty() {
                district.shown_metrics = None;
                for (name, value) in m.iter() {
                    if *value == 0 {
                        continue;
                    }
                    let p = district.metrics.iter().position(|e| &e.0 == name).unwrap();
                    let left = district.metrics[p].1 - value;
                    if left != 0 {
                        district.metrics[p].1 = left;
                    } else {
                        district.metrics.remove(p);
                    }
                }
            }
            self.touch(d, R_INCIDENTS);
        }
        match new {
            None => {
                self.incidents.remove(ident);
            }
            Some((d, s, m)) => {
                let district = &mut self.districts[d];
                district.counts[s] += 1;
                if !m.is_empty() {
                    district.shown_metrics = None;
                    for (name, value) in m.iter() {
                        if *value != 0 {
                            if let Some(e) = district.metrics.iter_mut().find(|e| &e.0 == name) {
                                e.1 += value;
                            } else {
                                district.metrics.push((name.clone(), *value));
                            }
                        }
                    }
                }
                self.incidents.insert(ident.clone(), (d, s, m));
                self.touch(d, R_INCIDENTS);
            }
        }
    }

    pub fn incident_none(&mut self, ident: &Str) {
        if !self.incidents.contains_key(ident) {
            return;
        }
        let empty = EMPTY_METRICS.with(|e| e.clone());
        self.incident(ident, None, 4, &empty);
    }

    pub fn warning(&mut self, ident: &Str, districts: &[usize], severity: Option<usize>) {
        let new = severity.map(|s| (districts.to_vec(), s));
        let old = self.warnings.get(ident).cloned();
        if old == new {
            return;
        }
        if let Some((ds, s)) = old {
            for d in ds {
                let district = &mut self.districts[d];
                district.warnings.remove(ident);
                district.shown_warnings = None;
                district.wcounts[s] -= 1;
                self.touch(d, R_WARNINGS);
            }
        }
        match new {
            None => {
                self.warnings.remove(ident);
            }
            Some((ds, s)) => {
                for &d in &ds {
                    let district = &mut self.districts[d];
                    district.warnings.insert(ident.clone(), s);
                    district.shown_warnings = None;
                    district.wcounts[s] += 1;
                    self.touch(d, R_WARNINGS);
                }
                self.warnings.insert(ident.clone(), (ds, s));
            }
        }
    }

    pub fn capacity(&mut self, d: usize, icu: Option<i64>, beds: Option<i64>) {
        let district = &mut self.districts[d];
        if (district.icu, district.beds) != (icu, beds) {
            district.icu = icu;
            district.beds = beds;
            self.touch(d, R_CAPACITY);
        }
    }

    pub fn evaluate(cfg: &Config, d: &District) -> (i64, String) {
        let value = |e: &MetricExpr| -> Option<i64> {
            let sum = |name: &str| d.metrics.iter().find(|m| &*m.0 == name).map(|m| m.1).unwrap_or(0);
            match e {
                MetricExpr::IncidentsOpen => Some(d.counts.iter().sum()),
                MetricExpr::WarningsActive => Some(d.wcounts.iter().sum()),
                MetricExpr::Count(i) => Some(d.counts[*i]),
                MetricExpr::WCount(i) => Some(d.wcounts[*i]),
                MetricExpr::Casualties => Some(sum("dead") + sum("injured")),
                MetricExpr::Icu => d.icu,
                MetricExpr::Beds => d.beds,
                MetricExpr::Sum(n) => Some(sum(n)),
            }
        };
        let vals: Vec<Option<i64>> = cfg.vars.iter().map(|(_, e)| value(e)).collect();
        'rules: for rule in &cfg.rules {
            for c in &rule.conds {
                let v = match vals[c.var] {
                    None => continue 'rules,
                    Some(v) => v as f64,
                };
                let ok = match c.op.as_str() {
                    ">=" => v >= c.value,
                    ">" => v > c.value,
                    "<=" => v <= c.value,
                    "<" => v < c.value,
                    _ => v == c.value,
                };
                if !ok {
                    continue 'rules;
                }
            }
            // written by hand: this runs for every district a change touches
            let mut reason = String::with_capacity(rule.text.len() + 24 * rule.conds.len());
            reason.push_str(&rule.text);
            reason.push_str(" (");
            for (i, c) in rule.conds.iter().enumerate() {
                if i > 0 {
                    reason.push_str(", ");
                }
                reason.push_str(&cfg.vars[c.var].0);
                reason.push_str(" = ");
                push_int(&mut reason, vals[c.var].unwrap());
            }
            reason.push(')');
            return (rule.level, reason);
        }
        (0, String::new())
    }

    pub fn compute_view(&mut self, cfg: &Config, i: usize) -> DistrictView {
        let (mut level, mut reason) = Board::evaluate(cfg, &self.districts[i]);
        let declared = self.declared.get(&i).cloned();
        if let Some((l, r)) = &declared {
            level = *l;
            reason = r.clone();
        }
        let d = &mut self.districts[i];
        d.level = level;
        let metrics = match &d.shown_metrics {
            Some(m) => m.clone(),
            None => {
                let mut m = d.metrics.clone();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                let m = Arc::new(m);
                d.shown_metrics = Some(m.clone());
                m
            }
        };
        let warnings = match &d.shown_warnings {
            Some(w) => w.clone(),
            None => {
                let mut w: Vec<Str> = d.warnings.keys().cloned().collect();
                w.sort();
                let w = Arc::new(w);
                d.shown_warnings = Some(w.clone());
                w
            }
        };
        DistrictView {
            level,
            reason,
            declared: declared.map(|x| x.0),
            counts: d.counts,
            warnings,
            icu: d.icu,
            beds: d.beds,
            metrics,
        }
    }

    pub fn flush(&mut self, cfg: &Config, ctx: &mut Ctx, emit: bool) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        for (i, reasons) in dirty {
            let old_level = self.districts[i].level;
            let view = self.compute_view(cfg, i);
            if view == *self.districts[i].view {
                continue;
            }
            let view = Arc::new(view);
            self.districts[i].view = view.clone();
            if !emit {
                continue;
            }
            let new_level = self.districts[i].level;
            let ags = cfg.districts[i].0.clone();
            if new_level != old_level {
                let reason: Str =
                    if view.reason.is_empty() { "no rule holds".into() } else { view.reason.as_str().into() };
                ctx.seq += 1;
                ctx.out.push(Change {
                    kind: Kind::DistrictLevelChanged,
                    seq: ctx.seq,
                    at_us: ctx.at_us,
                    late: ctx.late,
                    id: ags,
                    view: View::District(i, view),
                    thread: None,
                    reason: Some(reason),
                    old_level,
                    new_level,
                });
            } else {
                let mut parts = vec![];
                for (bit, name) in [
                    (R_CAPACITY, "capacity"),
                    (R_DECLARED, "declared"),
                    (R_INCIDENTS, "incidents"),
                    (R_WARNINGS, "warnings"),
                ] {
                    if reasons & bit != 0 {
                        parts.push(name);
                    }
                }
                ctx.emit(Kind::DistrictUpdated, ags, View::District(i, view), None, Some(parts.join("+").into()));
            }
        }
    }
}
