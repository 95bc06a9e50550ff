//! Where a report goes: the nearest incident, and whether an updated thread stays
//! (correlation/clustering.py).

use crate::prelude::*;

pub enum Found {
    No,
    Yes(Str, f64, f64, i64),
}

impl Engine {
    pub fn nearest(&mut self, obs: &Obs) -> Found {
        let cfg = self.cfg.clone();
        let (lon, lat, t_us) = (obs.lon.unwrap(), obs.lat.unwrap(), obs.t_us);
        let pairs = &cfg.pairs[obs.family];
        let scans = &cfg.scans[obs.family];
        let mut best = Found::No;
        let mut seen: Vec<Str> = Vec::new();
        let multi = scans.len() > 1;
        let mut found = std::mem::take(&mut self.scratch);
        for &(g, radius) in scans {
            found.clear();
            self.grids[g].near(cfg.m_per_deg, cfg.x_scale, lon, lat, radius, &mut found);
            for ident in found.iter() {
                if multi {
                    if seen.contains(ident) {
                        continue;
                    }
                    seen.push(ident.clone());
                }
                let inc = &self.live[ident];
                let mut reach = -1.0f64;
                let mut window = -1i64;
                for &(other, _) in &inc.families {
                    if let Some(p) = pairs[other] {
                        if p.radius_m > reach {
                            reach = p.radius_m;
                        }
                        if p.window_us > window {
                            window = p.window_us;
                        }
                    }
                }
                if reach < 0.0 || (t_us - inc.last_us).abs() > window {
                    continue;
                }
                let d = distance_m(cfg.m_per_deg, lon, lat, inc.lon.unwrap(), inc.lat.unwrap());
                if d <= reach {
                    let better = match &best {
                        Found::No => true,
                        Found::Yes(bi, bd, _, _) => d < *bd || (d == *bd && ident < bi),
                    };
                    if better {
                        best = Found::Yes(ident.clone(), d, reach, window);
                    }
                }
            }
        }
        self.scratch = found;
        best
    }

    pub fn new_link(obs: &Obs, order: i64, d: f64, gap: i64, reason: Str) -> Link {
        Link {
            source: obs.source.clone(),
            agency: obs.agency.clone(),
            family: obs.family,
            category: obs.category.clone(),
            severity: obs.severity,
            lon: obs.lon,
            lat: obs.lat,
            seen_us: obs.t_us,
            seen: obs.t_str.clone(),
            sequence: obs.sequence,
            metrics: obs.metrics.clone(),
            headline: obs.headline.clone(),
            order,
            linked_at: obs.t_str.clone(),
            distance_m: d,
            time_gap_s: gap,
            reason,
            pinned: false,
            view: None,
        }
    }

    pub fn stays(&self, id: &Str, obs: &Obs) -> bool {
        let inc = &self.live[id];
        if inc.links.len() == 1 || inc.links[&obs.thread].pinned {
            return true;
        }
        let cfg = &self.cfg;
        let mut reach = -1.0f64;
        let (mut sum_lon, mut sum_lat, mut located) = (0.0f64, 0.0f64, 0i64);
        for (thread, link) in &inc.links {
            if *thread == obs.thread {
                continue;
            }
            if let Some(p) = cfg.pairs[obs.family][link.family] {
                reach = reach.max(p.radius_m);
            }
            if let (Some(x), Some(y)) = (link.lon, link.lat) {
                sum_lon += x;
                sum_lat += y;
                located += 1;
            }
        }
        if reach < 0.0 {
            return false;
        }
        let (Some(lon), Some(lat)) = (obs.lon, obs.lat) else { return true };
        if located == 0 {
            return true;
        }
        let d = distance_m(cfg.m_per_deg, lon, lat, sum_lon / located as f64, sum_lat / located as f64);
        d <= reach * cfg.move_out_factor
    }
}
