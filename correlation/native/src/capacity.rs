//! The capacity layer (correlation/capacity.py).

use crate::prelude::*;

// ---- capacity (capacity.py) ------------------------------------------------------------------

pub struct Entry {
    pub scopes: Vec<Str>,
    pub t_us: i64,
    pub seen: Str,
    pub values: Vec<(usize, i64)>, // (0 = icu_beds_free, 1 = beds_free)
}

#[derive(Default)]
pub struct Capacity {
    pub threads: FxIndexMap<Str, Entry>, // insertion order, as the snapshot keeps it
    pub scopes: FxHashMap<Str, Vec<Str>>,
}

impl Capacity {
    pub fn value(&self, scope: &str) -> ([Option<i64>; 2], Option<Str>) {
        let mut latest: [Option<(i64, Str, i64)>; 2] = [None, None];
        let mut seen: Option<(i64, Str)> = None;
        if let Some(members) = self.scopes.get(scope) {
            for thread in members {
                let e = &self.threads[thread];
                for &(m, n) in &e.values {
                    let better = match &latest[m] {
                        None => true,
                        Some((t, th, _)) => (e.t_us, thread) > (*t, th),
                    };
                    if better {
                        latest[m] = Some((e.t_us, thread.clone(), n));
                    }
                }
                if seen.as_ref().map_or(true, |s| (e.t_us, &e.seen) > (s.0, &s.1)) {
                    seen = Some((e.t_us, e.seen.clone()));
                }
            }
        }
        ([latest[0].as_ref().map(|x| x.2), latest[1].as_ref().map(|x| x.2)], seen.map(|s| s.1))
    }
    pub fn view(&self, scope: &Str) -> View {
        let (v, updated_at) = self.value(scope);
        let mut threads = self.scopes.get(scope).cloned().unwrap_or_default();
        threads.sort();
        View::Capacity(Box::new(CapacityView { id: scope.clone(), icu: v[0], beds: v[1], updated_at, threads }))
    }
}

impl Engine {
    pub fn for_codes_one(&self, code: &str) -> Vec<usize> {
        // Districts.for_codes((code,)) for an area code (digits only, 2..12 of them)
        let digits: &str =
            if code.len() == 9 && (code.starts_with('1') || code.starts_with('8')) { &code[1..] } else { code };
        let cfg = &self.cfg;
        if digits.len() < 2 || cfg.districts.is_empty() || digits[..2] != cfg.districts[0].0[..2] {
            return vec![];
        }
        let prefix_all = |p: &str| -> Vec<usize> {
            cfg.districts.iter().enumerate().filter(|(_, d)| d.0.starts_with(p)).map(|(i, _)| i).collect()
        };
        if digits[2..].trim_matches('0').is_empty() {
            return prefix_all(&digits[..2]);
        }
        if digits.len() < 5 || &digits[3..5] == "00" {
            let prefix = if digits.len() < 5 { digits } else { &digits[..3] };
            return prefix_all(prefix);
        }
        match self.district_index.get(&digits[..5]) {
            Some(&i) => vec![i],
            None => vec![],
        }
    }

    pub fn scopes_of(&self, r: &Rep, geo: &dyn Geo) -> Vec<Str> {
        let mut found: Vec<Str> = vec![];
        for code in &r.area_codes {
            if code.len() >= 2 && self.states.contains(&code[..2]) && code[2..].trim_matches('0').is_empty() {
                found.push(code[..2].into());
                continue;
            }
            let k = self.for_codes_one(code);
            if k.len() == 1 {
                found.push(self.cfg.districts[k[0]].0.clone());
            }
        }
        if found.is_empty() {
            match r.geometry {
                GeomKind::Point(x, y) => {
                    if let Some(i) = self.cfg.locator.at(x, y) {
                        found.push(self.cfg.districts[i].0.clone());
                    }
                }
                GeomKind::Other => found.extend(geo.intersecting()),
                GeomKind::None => {}
            }
        }
        found.sort();
        found.dedup();
        found
    }

    pub fn capacity_apply(&mut self, thread: &Str, r: &Rep, t_us: i64, geo: &dyn Geo) {
        let mut touched: Vec<Str> = vec![];
        if let Some(old) = self.capacity.threads.shift_remove(thread) {
            for scope in &old.scopes {
                let members = self.capacity.scopes.get_mut(scope).unwrap();
                members.retain(|t| t != thread);
                if members.is_empty() {
                    self.capacity.scopes.remove(scope);
                }
            }
            touched.extend(old.scopes);
        }
        if &*r.msg_type != "cancel" {
            let mut values = vec![];
            for (i, m) in ["icu_beds_free", "beds_free"].iter().enumerate() {
                if let Some((_, v)) = r.metrics.iter().find(|(k, _)| &**k == *m) {
                    values.push((i, *v));
                }
            }
            let scopes = self.scopes_of(r, geo);
            for scope in &scopes {
                let members = self.capacity.scopes.entry(scope.clone()).or_default();
                if !members.contains(thread) {
                    members.push(thread.clone());
                }
            }
            touched.extend(scopes.iter().cloned());
            self.capacity.threads.insert(thread.clone(), Entry { scopes, t_us, seen: rfc3339(t_us).into(), values });
        }
        touched.sort();
        touched.dedup();
        for scope in touched {
            self.publish(&scope, thread);
        }
    }

    pub fn capacity_remove(&mut self, thread: &Str) {
        let Some(entry) = self.capacity.threads.shift_remove(thread) else { return };
        for scope in &entry.scopes {
            let members = self.capacity.scopes.get_mut(scope).unwrap();
            members.retain(|t| t != thread);
            if members.is_empty() {
                self.capacity.scopes.remove(scope);
            }
        }
        for scope in &entry.scopes {
            self.publish(scope, thread);
        }
    }

    pub fn publish(&mut self, scope: &Str, thread: &Str) {
        if scope.len() == 5 {
            let (v, _) = self.capacity.value(scope);
            if let Some(&d) = self.district_index.get(scope) {
                self.board.capacity(d, v[0], v[1]);
            }
            return;
        }
        let view = if self.capacity.scopes.contains_key(scope) { self.capacity.view(scope) } else { View::None };
        self.ctx.emit(Kind::CapacityUpdated, scope.clone(), view, Some(thread.clone()), None);
    }
}
