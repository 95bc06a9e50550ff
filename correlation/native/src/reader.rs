//! One canonical JSON report line read straight into the engine's `Rep`, for `process_line`.
//!
//! The reader vouches, or it declines. It returns a `Line` only when `ingest.report.
//! decode_report` would accept the same bytes and give the same report; for anything it is not
//! sure of (a polygon to repair, other languages, a timestamp in a rarer RFC 3339 spelling, a
//! repeated key, any rule broken) it returns None and the caller hands the line to
//! `decode_report`, which accepts it or names the field and the reason. So the rules of
//! contract 1 and their error messages have one home, ingest/report.py; this module only has
//! to be stricter than it, never looser, and the tests in tests/correlation/native/
//! test_reader.py hold it to that.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::prelude::*;
use crate::validity::*;

/// A report the reader vouches for, and its status (the engine ignores other statuses).
pub struct Line {
    pub rep: Rep,
    pub status: &'static str,
    /// `received_at`, set by the server on what it accepted
    pub received_us: Option<i64>,
}

/// The report of one canonical JSON line, or None when ingest.report must decide.
pub fn read(line: &[u8]) -> Option<Line> {
    // UTF-8 checked once for the line: serde_json then skips checking each string (from_str)
    let raw: Raw<'_> = serde_json::from_str(std::str::from_utf8(line).ok()?).ok()?;
    raw.vouched()
}

// ---- the line as JSON gives it -----------------------------------------------------------

/// A string, borrowed from the line unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A field that has a default but may not be null: missing is None, null is an error.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `{"type": "Point", "coordinates": [lon, lat(, alt)]}`; any other geometry is an error here
/// (polygons are checked and repaired by shapely in Python).
struct PointGeometry(f64, f64);

impl<'de> Deserialize<'de> for PointGeometry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PointGeometry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a GeoJSON Point")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let (mut kind, mut coordinates) = (None::<Text<'de>>, None::<Position>);
                while let Some(key) = m.next_key::<Text<'de>>()? {
                    match &*key.0 {
                        "type" if kind.is_none() => kind = Some(m.next_value()?),
                        "coordinates" if coordinates.is_none() => coordinates = Some(m.next_value()?),
                        _ => return Err(de::Error::custom("not a plain Point")),
                    }
                }
                match (kind, coordinates) {
                    (Some(k), Some(Position(lon, lat))) if k.0 == "Point" => {
                        Ok(PointGeometry(lon + 0.0, lat + 0.0)) // -0.0 + 0.0 is 0.0, as unsign_zero
                    }
                    _ => Err(de::Error::custom("not a plain Point")),
                }
            }
        }
        d.deserialize_map(V)
    }
}

/// `[lon, lat]` or `[lon, lat, altitude]` (read without a Vec: this is every report's).
struct Position(f64, f64);

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Position;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("2 or 3 numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let short = || de::Error::custom("fewer than 2 numbers");
                let lon: f64 = s.next_element()?.ok_or_else(short)?;
                let lat: f64 = s.next_element()?.ok_or_else(short)?;
                if s.next_element::<f64>()?.is_some() && s.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("more than 3 numbers"));
                }
                Ok(Position(lon, lat))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `metrics`, in their order; a repeated name is an error here (a dict would keep the first
/// place and the last value — rare enough to leave to Python).
struct Metrics<'a>(Vec<(Text<'a>, i64)>);

impl<'de: 'a, 'a> Deserialize<'de> for Metrics<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Metrics<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of metrics")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v: Vec<(Text<'a>, i64)> = Vec::new();
                while let Some((name, value)) = m.next_entry::<Text<'a>, i64>()? {
                    if v.len() == 32 || v.iter().any(|(n, _)| n.0 == name.0) {
                        return Err(de::Error::custom("too many or repeated metrics"));
                    }
                    v.push((name, value));
                }
                Ok(Metrics(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `alternates`: only the empty list is read here.
struct NoAlternates;

impl<'de> Deserialize<'de> for NoAlternates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoAlternates;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an empty list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                match s.next_element::<de::IgnoredAny>()? {
                    None => Ok(NoAlternates),
                    Some(_) => Err(de::Error::custom("alternates are read by Python")),
                }
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw<'a> {
    #[serde(borrow)]
    source: Text<'a>,
    #[serde(borrow)]
    source_id: Text<'a>,
    #[serde(borrow)]
    category: Text<'a>,
    #[serde(borrow)]
    observed_at: Text<'a>,
    #[serde(default, deserialize_with = "present")]
    sequence: Option<i64>,
    #[serde(default, borrow, deserialize_with = "present")]
    msg_type: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    status: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    severity: Option<Text<'a>>,
    #[serde(default, borrow)]
    urgency: Option<Text<'a>>,
    #[serde(default, borrow)]
    certainty: Option<Text<'a>>,
    #[serde(default, borrow)]
    onset_at: Option<Text<'a>>,
    #[serde(default, borrow)]
    expires_at: Option<Text<'a>>,
    #[serde(default)]
    geometry: Option<PointGeometry>,
    #[serde(default, borrow, deserialize_with = "present")]
    area_codes: Option<Vec<Text<'a>>>,
    #[serde(default, borrow, deserialize_with = "present")]
    geocodes: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    headline: Option<Text<'a>>,
    #[serde(default, borrow)]
    description: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    metrics: Option<Metrics<'a>>,
    #[serde(default, borrow)]
    agency: Option<Text<'a>>,
    #[serde(default, borrow)]
    message_id: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    references: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    language: Option<Text<'a>>,
    #[serde(default, borrow)]
    event: Option<Text<'a>>,
    #[serde(default, rename = "alternates", deserialize_with = "present")]
    _alternates: Option<NoAlternates>, // read only to leave non-empty lists to Python
    #[serde(default, borrow, deserialize_with = "present")]
    feed_format: Option<Text<'a>>,
    #[serde(default, borrow)]
    received_at: Option<Text<'a>>,
    #[serde(default)]
    offset: Option<i64>,
}

// ---- the rules applied (crate::validity) ---------------------------------------------------

thread_local! {
    /// The enumerations' strings as the engine holds them: cloned (a count), not allocated.
    static SHARED: FxHashMap<&'static str, Str> = SOURCES
        .iter()
        .chain(&MSG_TYPES)
        .chain(&SEVERITIES)
        .chain(&FEED_FORMATS)
        .map(|s| (*s, Arc::from(*s)))
        .collect();
}

fn shared(name: &'static str) -> Str {
    SHARED.with(|m| m[name].clone())
}

fn opt_text(text: &Option<Text<'_>>, min: usize, max: usize) -> bool {
    text.as_ref().map_or(true, |t| text_ok(&t.0, min, max))
}

fn opt_timestamp(text: &Option<Text<'_>>) -> Option<Option<i64>> {
    match text {
        None => Some(None),
        Some(t) => timestamp_us(&t.0).map(Some),
    }
}

fn opt_member(text: &Option<Text<'_>>, names: &[&'static str], default: &'static str) -> Option<&'static str> {
    match text {
        None => Some(default),
        Some(t) => one_of(&t.0, names),
    }
}

fn string(text: &Text<'_>) -> Str {
    Arc::from(&*text.0)
}

fn opt_string(text: &Option<Text<'_>>) -> Option<Str> {
    text.as_ref().map(string)
}

fn strings(texts: &Option<Vec<Text<'_>>>) -> Vec<Str> {
    texts.as_deref().unwrap_or(&[]).iter().map(string).collect()
}

impl Raw<'_> {
    /// The engine's report, if every rule of ingest/report.py holds for certain.
    fn vouched(self) -> Option<Line> {
        let source = one_of(&self.source.0, &SOURCES)?;
        let msg_type = opt_member(&self.msg_type, &MSG_TYPES, "alert")?;
        let status = opt_member(&self.status, &STATUSES, "actual")?;
        let severity = opt_member(&self.severity, &SEVERITIES, "unknown")?;
        let feed_format = opt_member(&self.feed_format, &FEED_FORMATS, "canonical")?;
        if let Some(u) = &self.urgency {
            one_of(&u.0, &URGENCIES)?;
        }
        if let Some(c) = &self.certainty {
            one_of(&c.0, &CERTAINTIES)?;
        }
        let sequence = self.sequence.unwrap_or(1);
        let t_us = timestamp_us(&self.observed_at.0).filter(|t| in_range(*t))?;
        let onset_us = opt_timestamp(&self.onset_at).filter(|t| t.map_or(true, in_range))?;
        let expires_us = opt_timestamp(&self.expires_at).filter(|t| t.map_or(true, |e| in_range(e) && e >= t_us))?;
        let received_us = opt_timestamp(&self.received_at)?;
        let area_codes = self.area_codes.as_deref().unwrap_or(&[]);
        let geocodes = self.geocodes.as_deref().unwrap_or(&[]);
        let references = self.references.as_deref().unwrap_or(&[]);
        let checks = (1..=1i64 << 53).contains(&sequence)
            && source_id_ok(&self.source_id.0)
            && self.category.0.len() <= 160
            && category_ok(&self.category.0)
            && area_codes.len() <= 5_000
            && area_codes.iter().all(|c| area_code_ok(&c.0))
            && geocodes.len() <= 5_000
            && geocodes.iter().all(|c| text_ok(&c.0, 3, 128))
            && references.len() <= 100
            && references.iter().all(|r| text_ok(&r.0, 1, 256))
            && opt_text(&self.headline, 0, 200)
            && opt_text(&self.description, 0, 5_000)
            && opt_text(&self.agency, 1, 200)
            && opt_text(&self.message_id, 1, 256)
            && opt_text(&self.language, 0, 35)
            && opt_text(&self.event, 0, 200)
            && self.offset.map_or(true, |o| o >= 0)
            && (self.geometry.is_some() || !area_codes.is_empty() || !geocodes.is_empty() || msg_type == "cancel");
        let metrics = self.metrics.as_ref().map_or(&[][..], |m| &m.0[..]);
        if !checks || !metrics.iter().all(|(name, value)| metric_ok(&name.0) && (0..=1_000_000_000).contains(value)) {
            return None;
        }
        let geometry = match self.geometry {
            None => GeomKind::None,
            Some(PointGeometry(lon, lat)) if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) => {
                GeomKind::Point(lon, lat)
            }
            Some(_) => return None,
        };
        let rep = Rep {
            source: shared(source),
            source_id: string(&self.source_id),
            category: string(&self.category),
            t_us,
            sequence,
            msg_type: shared(msg_type),
            severity: shared(severity),
            onset_us,
            expires_us,
            geometry,
            area_codes: strings(&self.area_codes),
            headline: opt_string(&self.headline),
            description: opt_string(&self.description),
            metrics: Arc::new(metrics.iter().map(|(n, v)| (string(n), *v)).collect()),
            agency: opt_string(&self.agency),
            message_id: opt_string(&self.message_id),
            references: strings(&self.references),
            event: opt_string(&self.event),
            feed_format: shared(feed_format),
        };
        Some(Line { rep, status, received_us })
    }
}

/// For the tests: the report `read` gives, as a tuple (see test_reader.py), or None.
#[pyo3::pyfunction]
pub fn parse(py: pyo3::Python<'_>, line: &[u8]) -> pyo3::PyObject {
    use pyo3::types::PyTupleMethods;
    use pyo3::IntoPy;
    let Some(Line { rep, status, .. }) = read(line) else { return py.None() };
    let s = |v: &Str| v.to_string();
    let opt = |v: &Option<Str>| v.as_deref().map(str::to_string);
    let point = match rep.geometry {
        GeomKind::Point(lon, lat) => Some((lon, lat)),
        _ => None,
    };
    let metrics: Vec<(String, i64)> = rep.metrics.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    let head = (s(&rep.source), s(&rep.source_id), s(&rep.category), rep.t_us, rep.sequence, s(&rep.msg_type), status);
    let middle =
        (s(&rep.severity), rep.onset_us, rep.expires_us, point, rep.area_codes.iter().map(s).collect::<Vec<_>>());
    let tail = (opt(&rep.headline), opt(&rep.description), metrics, opt(&rep.agency), opt(&rep.message_id));
    let end = (rep.references.iter().map(s).collect::<Vec<_>>(), opt(&rep.event), s(&rep.feed_format));
    let parts: [pyo3::PyObject; 4] = [head.into_py(py), middle.into_py(py), tail.into_py(py), end.into_py(py)];
    let mut all: Vec<pyo3::PyObject> = Vec::new();
    for part in &parts {
        let part: &pyo3::Bound<'_, pyo3::types::PyTuple> = part.downcast_bound(py).expect("a tuple");
        all.extend(part.iter().map(|x| x.unbind()));
    }
    pyo3::types::PyTuple::new_bound(py, all).into_any().unbind()
}
