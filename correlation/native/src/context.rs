//! Shared value types and the emitting context (correlation/context.py).

use crate::prelude::*;

pub type Str = Arc<str>;
pub type Metrics = Arc<Vec<(Str, i64)>>; // a dict in insertion order

thread_local! {
    pub static EMPTY_METRICS: Metrics = Arc::new(vec![]);
    pub static EMPTY_LIST: Arc<Vec<Str>> = Arc::new(vec![]);
}

pub fn empty_list() -> Arc<Vec<Str>> {
    EMPTY_LIST.with(|e| e.clone())
}

pub const SEVERITIES: [&str; 5] = ["extreme", "severe", "moderate", "minor", "unknown"];

pub fn sev_index(s: &str) -> usize {
    SEVERITIES.iter().position(|x| *x == s).unwrap_or(4)
}

pub struct Ctx {
    pub seq: i64,
    pub clock_us: Option<i64>,
    pub heap: BinaryHeap<Reverse<(i64, Str, u8)>>,
    pub out: Vec<Change>,
    pub at_us: i64,
    pub late: bool,
}

impl Ctx {
    pub fn emit(&mut self, kind: Kind, id: Str, view: View, thread: Option<Str>, reason: Option<Str>) {
        self.seq += 1;
        self.out.push(Change {
            kind,
            seq: self.seq,
            at_us: self.at_us,
            late: self.late,
            id,
            view,
            thread,
            reason,
            old_level: 0,
            new_level: 0,
        });
    }
    pub fn step(&mut self, at_us: i64, late: bool) {
        self.at_us = at_us;
        self.late = late;
    }
}
