//! Event time as correlation/clock.py writes it.

// ---- time ------------------------------------------------------------------------------------

/// days since 1970-01-01 -> (year, month, day)  (H. Hinnant's civil_from_days)
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// correlation/clock.py rfc3339: "2026-11-29T10:00:00Z"
pub fn rfc3339(us: i64) -> String {
    let mut b = Vec::with_capacity(20);
    rfc3339_into(&mut b, us);
    String::from_utf8(b).unwrap()
}

/// rfc3339, appended to `out` (the wire writer's buffer: no string of its own).
pub fn rfc3339_into(out: &mut Vec<u8>, us: i64) {
    let secs = us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        let s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, mo, d, rem / 3600, (rem / 60) % 60, rem % 60);
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut b = *b"0000-00-00T00:00:00Z";
    let two = |b: &mut [u8; 20], at: usize, v: i64| {
        b[at] = b'0' + (v / 10) as u8;
        b[at + 1] = b'0' + (v % 10) as u8;
    };
    two(&mut b, 0, y / 100);
    two(&mut b, 2, y % 100);
    two(&mut b, 5, mo as i64);
    two(&mut b, 8, d as i64);
    two(&mut b, 11, rem / 3600);
    two(&mut b, 14, (rem / 60) % 60);
    two(&mut b, 17, rem % 60);
    out.extend_from_slice(&b);
}

/// `v` in decimal, written at the end of `digits` (what `{}` writes, without the formatting
/// machinery, which costs more than the engine's own work on a hot path).
pub fn decimal(v: i64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        digits[i] = b'-';
    }
    &digits[i..]
}

pub fn push_int(out: &mut String, v: i64) {
    out.push_str(std::str::from_utf8(decimal(v, &mut [0; 20])).unwrap());
}

pub const ONSET: u8 = 0;
pub const RESOLVE: u8 = 1;
pub const EXPIRE: u8 = 2;
pub const CLOSE: u8 = 3;
