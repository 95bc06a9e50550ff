//! Operator overrides of the incident layer and the board (correlation/overrides.py and
//! Engine.act). Validation that needs no state change happens in Python before these run
//! (NativeEngine.check), so these only apply what passed.

use crate::prelude::*;

pub const MAX_NOTES: usize = 200;

impl Engine {
    /// Engine.act up to the action itself: the clock moves to the action's time and the
    /// timers it passed fire (their changes stay in `ctx.out` until taken).
    pub fn begin_action(&mut self, at_us: i64, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        if self.ctx.clock_us.map_or(true, |c| at_us > c) {
            self.ctx.clock_us = Some(at_us);
        }
        let w = self.ctx.clock_us.unwrap() - self.cfg.allowed_lateness_us;
        self.fire(w, true, gc, py);
        self.ctx.step(at_us, false);
    }

    /// Engine.act after the action: district figures, then the timers again.
    pub fn end_action(&mut self, gc: &dyn GeoCall, py: pyo3::Python<'_>) {
        let cfg = self.cfg.clone();
        self.board.flush(&cfg, &mut self.ctx, true);
        let w = self.ctx.clock_us.unwrap() - self.cfg.allowed_lateness_us;
        self.fire(w, true, gc, py);
    }

    fn live_id(&self, ident: &str) -> Str {
        self.live.get_key_value(ident).expect("checked live").0.clone()
    }

    fn updated(&mut self, id: &Str, reason: &str) {
        let view = self.view(id);
        self.ctx.emit(Kind::IncidentUpdated, id.clone(), view, None, Some(reason.into()));
    }

    pub fn acknowledge(&mut self, ident: &str, at_us: i64, actor: &str) {
        let id = self.live_id(ident);
        let inc = self.live.get_mut(&id).unwrap();
        if inc.acknowledged.is_some() {
            return; // the first acknowledgement counts
        }
        inc.acknowledged = Some((rfc3339(at_us).into(), actor.into()));
        self.updated(&id, "acknowledged");
    }

    /// False if the incident has its MAX_NOTES already (nothing changed).
    pub fn note(&mut self, ident: &str, at_us: i64, actor: &str, text: &str) -> bool {
        let id = self.live_id(ident);
        let inc = self.live.get_mut(&id).unwrap();
        if inc.notes.len() >= MAX_NOTES {
            return false;
        }
        // a new list: views already emitted share the old one
        let mut notes = (*inc.notes).clone();
        notes.push((rfc3339(at_us).into(), actor.into(), text.into()));
        inc.notes = Arc::new(notes);
        self.updated(&id, "note");
        true
    }

    pub fn set_status(&mut self, ident: &str, at_us: i64, status: &str, gc: &dyn GeoCall) {
        let id = self.live_id(ident);
        match status {
            "resolved" => {
                if !self.live[&id].resolved {
                    self.resolve_incident(&id, at_us, "operator");
                }
            }
            "open" => self.reopen_incident(&id, at_us, gc),
            _ => {
                self.close(&id, "operator".into());
            }
        }
    }

    pub fn reopen_incident(&mut self, id: &Str, at_us: i64, gc: &dyn GeoCall) {
        let inc = self.live.get_mut(id).unwrap();
        if inc.resolved {
            inc.resolved = false;
            inc.resolved_us = None;
            inc.due_us = -1;
            inc.active_us = inc.active_us.max(at_us);
            self.settle(id, false, gc);
            let view = self.view(id);
            self.ctx.emit(Kind::IncidentReopened, id.clone(), view, None, Some("operator".into()));
        }
    }

    fn close(&mut self, id: &Str, reason: Str) -> Incident {
        let inc = self.drop_incident(id);
        self.ctx.emit(Kind::IncidentClosed, id.clone(), View::None, None, Some(reason));
        inc
    }

    /// Every thread of `other` moves into `target`, pinned there; `other` leaves the picture.
    pub fn merge(&mut self, target: &str, other: &str, gc: &dyn GeoCall) {
        let target = self.live_id(target);
        let other = self.live_id(other);
        let mut gone = self.close(&other, format!("merged_into:{target}").into());
        let mut moved: Vec<(Str, Link)> = gone.links.drain(..).collect();
        moved.sort_by_key(|(_, link)| link.order);
        let why: Str = format!("merged by an operator from {other}").into();
        let inc = self.live.get_mut(&target).unwrap();
        for (thread, mut link) in moved {
            link.order = inc.next_order;
            inc.next_order += 1;
            link.pinned = true;
            link.reason = why.clone();
            link.view = None;
            fam_add(&mut inc.families, link.family);
            if link.seen_us > inc.last_us {
                inc.last_us = link.seen_us;
                inc.last = link.seen.clone();
            }
            if link.seen_us < inc.first_us {
                inc.first_us = link.seen_us;
                inc.first = link.seen.clone();
            }
            inc.links.insert(thread.clone(), link);
            self.by_thread.insert(thread, target.clone());
        }
        inc.active_us = inc.active_us.max(gone.active_us);
        if !gone.notes.is_empty() {
            let mut notes: Vec<(Str, Str, Str)> = inc.notes.iter().chain(gone.notes.iter()).cloned().collect();
            let extra = notes.len().saturating_sub(MAX_NOTES);
            notes.drain(..extra);
            inc.notes = Arc::new(notes);
        }
        if inc.resolved && !gone.resolved {
            inc.resolved = false;
            inc.resolved_us = None;
            inc.due_us = -1;
        }
        self.settle(&target, true, gc);
        self.updated(&target, "merged");
    }

    /// `thread` leaves incident `ident` into an incident of its own.
    pub fn split(&mut self, ident: &str, thread: &str, at_us: i64, gc: &dyn GeoCall) {
        let id = self.live_id(ident);
        let thread: Str = self.live[&id].links.get_key_value(thread).expect("checked thread").0.clone();
        let mut link = self.remove(&id, &thread, "thread_split", gc);
        let new_id: Str = incident_id(&format!("split:{id}:{thread}:{at_us}")).into();
        let at: Str = rfc3339(at_us).into();
        link.order = 0;
        link.pinned = false;
        link.distance_m = 0.0;
        link.time_gap_s = 0;
        link.reason = format!("split out of {id} by an operator").into();
        link.linked_at = at;
        link.view = None;
        self.next_live += 1;
        let active_us = link.seen_us.max(at_us);
        let alone = Incident::alone(new_id.clone(), self.next_live, thread.clone(), link, active_us);
        self.live.insert(new_id.clone(), alone);
        self.by_thread.insert(thread.clone(), new_id.clone());
        self.settle(&new_id, true, gc);
        let view = self.view(&new_id);
        self.ctx.emit(Kind::IncidentOpened, new_id, view, Some(thread), Some(format!("split_from:{id}").into()));
    }

    /// An operator's level for a district (None: back to the rules).
    pub fn declare(&mut self, district: usize, level: Option<i64>, reason: String) {
        match level {
            None => {
                self.board.declared.shift_remove(&district);
            }
            Some(level) => {
                self.board.declared.insert(district, (level, reason));
            }
        }
        self.board.touch(district, R_DECLARED);
    }
}
