//! The bytes of correlation.changes.encode_change, written directly from the Rust changes
//! (msgspec.json's format: no spaces, fields in struct order with the "type" tag first, every
//! field written: the Change structs do not omit defaults).
//!
//! msgspec's formats, as far as they differ from the obvious: floats are Rust's shortest
//! round-trip form in [1e-4, 1e15) (".0" added to integral values), anything else is handed
//! to msgspec; datetimes end in "Z" and carry microseconds only when non-zero; strings escape
//! `"` `\` \n \r \t \b \f, other control characters as \u00XX, and leave DEL, U+2028 and
//! non-ASCII raw.

use crate::prelude::*;
use crate::pyviews::kind_name;

/// What stays in Python: msgspec's own encoding of a float outside the fast range and of a
/// warning's geometry (a plain dict).
pub trait Fallback {
    fn float(&self, x: f64) -> Vec<u8>;
    fn geometry(&self, g: &pyo3::PyObject) -> Vec<u8>;
}

pub struct Writer<'a> {
    pub buf: Vec<u8>,
    pub fallback: &'a dyn Fallback,
    /// district (ags, name) by index
    pub districts: &'a [(Str, Str)],
}

const HEX: &[u8; 16] = b"0123456789abcdef";

const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of the 8 bytes of `word` is a control character, `"` or `\\` (exact: the
/// "has a zero byte"/"has a byte less than n" tests are exact as yes/no answers).
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    control | zero(word ^ (ONES * b'"' as u64)) | zero(word ^ (ONES * b'\\' as u64)) != 0
}

/// Whether any byte of `bytes` needs an escape, 8 bytes at a time (the last word overlaps the
/// one before; a short string is padded with a letter).
#[inline]
fn has_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    if n < 8 {
        let mut w = [b'a'; 8];
        w[..n].copy_from_slice(bytes);
        return needs_escape(u64::from_le_bytes(w));
    }
    let mut i = 0;
    while i + 8 <= n {
        if needs_escape(word(i)) {
            return true;
        }
        i += 8;
    }
    i < n && needs_escape(word(n - 8))
}

impl Writer<'_> {
    #[inline]
    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn str(&mut self, s: &str) {
        let bytes = s.as_bytes();
        if !has_escape(bytes) {
            self.buf.reserve(bytes.len() + 2);
            self.buf.push(b'"');
            self.buf.extend_from_slice(bytes);
            self.buf.push(b'"');
            return;
        }
        self.buf.push(b'"');
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !NEEDS_ESCAPE[b as usize] {
                continue;
            }
            self.buf.extend_from_slice(&bytes[start..i]);
            match b {
                b'"' => self.buf.extend_from_slice(b"\\\""),
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                0x08 => self.buf.extend_from_slice(b"\\b"),
                0x0c => self.buf.extend_from_slice(b"\\f"),
                _ => {
                    self.buf.extend_from_slice(b"\\u00");
                    self.buf.push(HEX[(b >> 4) as usize]);
                    self.buf.push(HEX[(b & 15) as usize]);
                }
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.raw("null"),
            Some(s) => self.str(s),
        }
    }

    fn int(&mut self, v: i64) {
        self.buf.extend_from_slice(decimal(v, &mut [0; 20]));
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            None => self.raw("null"),
            Some(v) => self.int(v),
        }
    }

    fn float(&mut self, x: f64) {
        // ryu writes what msgspec writes, digits and notation (1e16, 0.00005), ties to even
        // included: std's Display rounds a tie such as 233115890514796.125 up, Python and
        // msgspec to even (..796.12). Equal on 3 million values across all exponents.
        if x.is_finite() {
            self.raw(ryu::Buffer::new().format_finite(x));
        } else {
            let b = self.fallback.float(x);
            self.buf.extend_from_slice(&b);
        }
    }

    fn str_list(&mut self, v: &[Str]) {
        self.buf.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.str(s);
        }
        self.buf.push(b']');
    }

    fn metrics(&mut self, m: &[(Str, i64)]) {
        self.buf.push(b'{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.str(k);
            self.buf.push(b':');
            self.int(*v);
        }
        self.buf.push(b'}');
    }

    fn datetime(&mut self, us: i64) {
        let micro = us.rem_euclid(1_000_000);
        self.buf.push(b'"');
        rfc3339_into(&mut self.buf, us); // "YYYY-MM-DDTHH:MM:SSZ"
        if micro != 0 {
            self.buf.pop();
            let mut f = *b".000000Z";
            let mut m = micro;
            for k in (1..7).rev() {
                f[k] = b'0' + (m % 10) as u8;
                m /= 10;
            }
            self.buf.extend_from_slice(&f);
        }
        self.buf.push(b'"');
    }

    fn link(&mut self, l: &LinkView) {
        if let Some(b) = l.json.get() {
            self.buf.extend_from_slice(b);
            return;
        }
        let start = self.buf.len();
        self.raw("{\"thread\":");
        self.str(&l.thread);
        self.raw(",\"source\":");
        self.str(&l.source);
        self.raw(",\"agency\":");
        self.str(&l.agency);
        self.raw(",\"category\":");
        self.str(&l.category);
        self.raw(",\"severity\":\"");
        self.raw(SEVERITIES[l.severity]);
        self.raw("\",\"linked_at\":");
        self.str(&l.linked_at);
        self.raw(",\"distance_m\":");
        self.float(l.distance_m);
        self.raw(",\"time_gap_s\":");
        self.int(l.time_gap_s);
        self.raw(",\"reason\":");
        self.str(&l.reason);
        self.buf.push(b'}');
        let _ = l.json.set(self.buf[start..].into());
    }

    fn incident(&mut self, i: &IncidentView) {
        self.raw("{\"id\":");
        self.str(&i.id);
        self.raw(if i.resolved { ",\"status\":\"resolved\"" } else { ",\"status\":\"open\"" });
        self.raw(",\"category\":");
        self.str(&i.category);
        self.raw(",\"severity\":\"");
        self.raw(SEVERITIES[i.severity]);
        self.raw("\",\"title\":");
        self.str(&i.title);
        self.raw(",\"centroid\":");
        match i.centroid {
            None => self.raw("null"),
            Some((x, y)) => {
                self.buf.push(b'[');
                self.float(x);
                self.buf.push(b',');
                self.float(y);
                self.buf.push(b']');
            }
        }
        self.raw(",\"district\":");
        self.opt_str(i.district.as_deref());
        self.raw(",\"first_seen\":");
        self.str(&i.first_seen);
        self.raw(",\"last_seen\":");
        self.str(&i.last_seen);
        self.raw(",\"resolved_at\":");
        self.opt_str(i.resolved_at.as_deref());
        self.raw(",\"agencies\":");
        self.str_list(&i.agencies);
        self.raw(",\"families\":");
        self.str_list(&i.families);
        self.raw(",\"metrics\":");
        self.metrics(&i.metrics);
        self.raw(",\"warnings\":");
        self.str_list(&i.warnings);
        self.raw(",\"threads\":");
        self.str_list(&i.threads);
        self.raw(",\"links\":[");
        for (k, l) in i.links.iter().enumerate() {
            if k > 0 {
                self.buf.push(b',');
            }
            self.link(l);
        }
        self.buf.push(b']');
        if let Some((at, by)) = &i.acknowledged {
            self.raw(",\"acknowledged\":{\"at\":");
            self.str(at);
            self.raw(",\"by\":");
            self.str(by);
            self.buf.push(b'}');
        }
        if !i.notes.is_empty() {
            self.raw(",\"notes\":[");
            for (k, (at, by, text)) in i.notes.iter().enumerate() {
                if k > 0 {
                    self.buf.push(b',');
                }
                self.raw("{\"at\":");
                self.str(at);
                self.raw(",\"by\":");
                self.str(by);
                self.raw(",\"text\":");
                self.str(text);
                self.buf.push(b'}');
            }
            self.buf.push(b']');
        }
        self.buf.push(b'}');
    }

    fn district(&mut self, idx: usize, v: &DistrictView) {
        let table = self.districts;
        self.raw("{\"ags\":");
        self.str(&table[idx].0);
        self.raw(",\"name\":");
        self.str(&table[idx].1);
        self.raw(",\"level\":");
        self.int(v.level);
        self.raw(",\"level_reason\":");
        self.str(&v.reason);
        self.raw(",\"declared_level\":");
        self.opt_int(v.declared);
        self.raw(",\"open_incidents\":{");
        for (k, (name, n)) in SEVERITIES.iter().zip(v.counts.iter()).enumerate() {
            if k > 0 {
                self.buf.push(b',');
            }
            self.buf.push(b'"');
            self.raw(name);
            self.raw("\":");
            self.int(*n);
        }
        self.raw("},\"warnings\":");
        self.str_list(&v.warnings);
        self.raw(",\"icu_beds_free\":");
        self.opt_int(v.icu);
        self.raw(",\"beds_free\":");
        self.opt_int(v.beds);
        self.raw(",\"metrics\":");
        self.metrics(&v.metrics);
        self.buf.push(b'}');
    }

    fn warning(&mut self, w: &WarningView) {
        self.raw("{\"id\":");
        self.str(&w.id);
        self.raw(if w.active { ",\"status\":\"active\"" } else { ",\"status\":\"pending\"" });
        self.raw(",\"category\":");
        self.str(&w.category);
        self.raw(",\"severity\":");
        self.str(&w.severity);
        self.raw(",\"headline\":");
        self.opt_str(w.headline.as_deref());
        self.raw(",\"description\":");
        self.opt_str(w.description.as_deref());
        self.raw(",\"event\":");
        self.opt_str(w.event.as_deref());
        self.raw(",\"source\":");
        self.str(&w.source);
        self.raw(",\"agency\":");
        self.str(&w.agency);
        self.raw(",\"onset\":");
        self.str(&w.onset);
        self.raw(",\"expires\":");
        self.str(&w.expires);
        self.raw(",\"issued\":");
        self.str(&w.issued);
        self.raw(",\"updated\":");
        self.str(&w.updated);
        self.raw(",\"districts\":");
        self.str_list(&w.districts);
        self.raw(",\"threads\":[");
        self.str(&w.thread);
        self.raw("],\"geometry\":");
        match &w.geometry {
            None => self.raw("null"),
            Some(g) => {
                let b = self.fallback.geometry(g);
                self.buf.extend_from_slice(&b);
            }
        }
        self.buf.push(b'}');
    }

    fn capacity(&mut self, c: &CapacityView) {
        self.raw("{\"id\":");
        self.str(&c.id);
        self.raw(",\"scope\":\"state\",\"icu_beds_free\":");
        self.opt_int(c.icu);
        self.raw(",\"beds_free\":");
        self.opt_int(c.beds);
        self.raw(",\"updated_at\":");
        self.opt_str(c.updated_at.as_deref());
        self.raw(",\"threads\":");
        self.str_list(&c.threads);
        self.buf.push(b'}');
    }

    fn view(&mut self, v: &View) {
        match v {
            View::None => self.raw("null"),
            View::Incident(i) => self.incident(i),
            View::District(idx, v) => self.district(*idx, v),
            View::Warning(w) => self.warning(w),
            View::Capacity(c) => self.capacity(c),
        }
    }

    /// One change, as encode_change writes it (the buffer is cleared first).
    pub fn change(&mut self, c: &Change) {
        self.buf.clear();
        self.raw("{\"type\":\"");
        self.raw(kind_name(c.kind));
        self.raw("\",\"seq\":");
        self.int(c.seq);
        self.raw(",\"at\":");
        self.datetime(c.at_us);
        self.raw(",\"entity\":\"");
        self.raw(c.kind.entity());
        self.raw("\",\"id\":");
        self.str(&c.id);
        self.raw(",\"view\":");
        self.view(&c.view);
        self.raw(if c.late { ",\"late\":true" } else { ",\"late\":false" });
        let thread = |w: &mut Self| {
            w.raw(",\"thread\":");
            w.opt_str(c.thread.as_deref());
        };
        let reason = |w: &mut Self, default: &str| {
            w.raw(",\"reason\":");
            w.str(c.reason.as_deref().unwrap_or(default));
        };
        // the subclass fields in their declaration order (correlation/changes.py)
        match c.kind {
            Kind::IncidentOpened => {
                thread(self);
                reason(self, "opened");
            }
            Kind::IncidentUpdated | Kind::IncidentReopened | Kind::WarningUpdated => {
                reason(self, "");
                thread(self);
            }
            Kind::IncidentResolved | Kind::DistrictUpdated => reason(self, ""),
            Kind::IncidentClosed => reason(self, "closed"),
            Kind::IncidentCancelled => {
                thread(self);
                reason(self, "cancelled");
            }
            Kind::WarningIssued | Kind::WarningCancelled | Kind::CapacityUpdated => thread(self),
            Kind::WarningExpired => {}
            Kind::DistrictLevelChanged => {
                self.raw(",\"old_level\":");
                self.int(c.old_level);
                self.raw(",\"new_level\":");
                self.int(c.new_level);
                reason(self, "");
            }
        }
        self.buf.push(b'}');
    }
}
