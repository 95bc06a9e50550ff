//! Contract 1's rules as ingest/report.py applies them, for the reader (reader.rs): each check
//! is exactly Python's or stricter (a pattern's `$` lets a trailing newline through in Python,
//! not here; a printable source_id is printable ASCII here), never looser.

use crate::clock::days_from_civil;

pub const SOURCES: [&str; 6] = ["police", "fire", "health", "weather", "civil_protection", "other"];
pub const MSG_TYPES: [&str; 3] = ["alert", "update", "cancel"];
pub const STATUSES: [&str; 3] = ["actual", "exercise", "test"];
pub const URGENCIES: [&str; 5] = ["immediate", "expected", "future", "past", "unknown"];
pub const CERTAINTIES: [&str; 5] = ["observed", "likely", "possible", "unlikely", "unknown"];
pub const FEED_FORMATS: [&str; 5] = ["canonical", "cap", "nina", "geojson", "csv"];
pub const FAMILIES: [&str; 11] = [
    "fire",
    "flood",
    "accident",
    "rescue",
    "medical",
    "hazmat",
    "security",
    "infrastructure",
    "weather",
    "capacity",
    "other",
];
/// ingest.report.EARLIEST and LATEST (1990-01-01, 2100-01-01 UTC) in microseconds.
pub const EARLIEST_US: i64 = 631_152_000_000_000;
pub const LATEST_US: i64 = 4_102_444_800_000_000;

/// The member of `names` that `text` is, as a static string.
pub fn one_of(text: &str, names: &[&'static str]) -> Option<&'static str> {
    names.iter().copied().find(|n| *n == text)
}

/// At most `max` characters (code points, as Python's len) and no NUL.
pub fn text_ok(text: &str, min: usize, max: usize) -> bool {
    let chars = if text.is_ascii() { text.len() } else { text.chars().count() };
    (min..=max).contains(&chars) && !text.contains('\0')
}

/// `^(family)(\.[a-z0-9_]{1,40}){0,3}$`, exactly (no trailing newline, which Python's `$` allows).
pub fn category_ok(category: &str) -> bool {
    let mut parts = category.split('.');
    let family = parts.next().unwrap_or("");
    let mut details = 0;
    for part in parts {
        details += 1;
        let ok = (1..=40).contains(&part.len())
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok || details > 3 {
            return false;
        }
    }
    FAMILIES.contains(&family)
}

/// `^[a-z][a-z0-9_]{0,39}$`
pub fn metric_ok(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..].iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `^[0-9]{2,12}$`
pub fn area_code_ok(code: &str) -> bool {
    (2..=12).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// Printable ASCII without surrounding blanks: what `str.isprintable()` and `strip()` allow,
/// narrowed to ASCII because Python's idea of a printable non-ASCII character is its Unicode
/// database's.
pub fn source_id_ok(id: &str) -> bool {
    let b = id.as_bytes();
    (1..=128).contains(&b.len()) && b.iter().all(|c| (0x20..0x7f).contains(c)) && b[0] != b' ' && b[b.len() - 1] != b' '
}

/// Microseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)`; None for
/// anything else RFC 3339 or msgspec might also allow.
pub fn timestamp_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |at: usize, len: usize| -> Option<i64> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0i64, |n, d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut micro = 0;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=6).contains(&digits) {
            return None;
        }
        micro = num(i + 1, digits)? * 10i64.pow((6 - digits) as u32);
        i += 1 + digits;
    }
    let offset_s = match &b[i..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 || (h == 0 && m == 0 && *sign == b'-') {
                return None;
            }
            (h * 3600 + m * 60) * if *sign == b'+' { 1 } else { -1 }
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    if year < 1 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) * 1_000_000 + micro)
}

pub fn in_range(us: i64) -> bool {
    (EARLIEST_US..LATEST_US).contains(&us)
}
