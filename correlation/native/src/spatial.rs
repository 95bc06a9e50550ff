//! Numerics that must match CPython bit for bit, and the grid of incident cells
//! (correlation/spatial.py).

use crate::prelude::*;

// ---- CPython math.hypot (vector_norm, n = 2) ------------------------------------------------

#[inline]
pub fn dl_fast_sum(a: f64, b: f64) -> (f64, f64) {
    let x = a + b;
    let z = x - a;
    let y = b - z;
    (x, y)
}

#[inline]
pub fn dl_mul(x: f64, y: f64) -> (f64, f64) {
    let z = x * y;
    (z, x.mul_add(y, -z))
}

#[inline]
pub fn frexp_e(x: f64) -> i32 {
    // exponent e such that x = m * 2**e with 0.5 <= m < 1 (x normal, > 0)
    let bits = x.to_bits();
    ((bits >> 52) & 0x7ff) as i32 - 1022
}

pub fn py_hypot(a: f64, b: f64) -> f64 {
    let x0 = a.abs();
    let x1 = b.abs();
    if x0.is_nan() || x1.is_nan() {
        if x0.is_infinite() || x1.is_infinite() {
            return f64::INFINITY;
        }
        return f64::NAN;
    }
    let max = if x0 > x1 { x0 } else { x1 };
    if max.is_infinite() {
        return max;
    }
    if max == 0.0 {
        return max;
    }
    if max < f64::MIN_POSITIVE {
        let m = f64::MIN_POSITIVE;
        return m * py_hypot(x0 / m, x1 / m);
    }
    let max_e = frexp_e(max);
    let scale = f64::from_bits(((1023 - max_e) as u64) << 52); // ldexp(1.0, -max_e)
    let mut csum = 1.0f64;
    let mut frac1 = 0.0f64;
    let mut frac2 = 0.0f64;
    for v in [x0, x1] {
        let x = v * scale;
        let pr = dl_mul(x, x);
        let sm = dl_fast_sum(csum, pr.0);
        csum = sm.0;
        frac1 += pr.1;
        frac2 += sm.1;
    }
    let mut h = (csum - 1.0 + (frac1 + frac2)).sqrt();
    let pr = dl_mul(-h, h);
    let sm = dl_fast_sum(csum, pr.0);
    csum = sm.0;
    frac1 += pr.1;
    frac2 += sm.1;
    let x = csum - 1.0 + (frac1 + frac2);
    h += x / (2.0 * h);
    h / scale
}

pub const RAD: f64 = std::f64::consts::PI / 180.0;

/// correlation/spatial.py distance_m
#[inline]
pub fn distance_m(m_per_deg: f64, lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let k = ((lat1 + lat2) * (0.5 * RAD)).cos();
    py_hypot((lon2 - lon1) * k, lat2 - lat1) * m_per_deg
}

/// Python's round(x, ndigits): correctly rounded (half-even on the exact binary value),
/// i.e. float(format(x, f".{n}f")). Rust's `{:.n}` formats exactly, half to even.
pub fn py_round(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Fast path: x is already the double nearest to a decimal with <= `digits` decimals
    // (s / 10**digits is correctly rounded by IEEE division), so rounding gives x back.
    if digits <= 15 && x.abs() < 1e9 {
        let p = 10f64.powi(digits as i32);
        let s = (x * p).round();
        if s / p == x && s != 0.0 {
            return x;
        }
        // Python rounds the exact binary value of x to `digits` decimals (half to even) and
        // reads the decimal back. Unless x * p lies near a half, where its own rounding error
        // could tip the choice, s is that decimal's numerator, and s / p (exact operands,
        // correctly rounded division) is the double nearest to it, as reading back gives.
        let y = x * p;
        let near_half = ((y - y.trunc()).abs() - 0.5).abs() <= y.abs() * 1e-15 + 1e-9;
        if !near_half && s.abs() < 9.0e15 {
            let r = s / p;
            return if r == 0.0 {
                if x.is_sign_negative() {
                    -0.0
                } else {
                    0.0
                }
            } else {
                r
            };
        }
    }
    let s = format!("{:.*}", digits, x);
    let r: f64 = s.parse().unwrap();
    if r == 0.0 {
        // Python keeps the sign of zero: round(-0.0000001, 6) == -0.0
        return if x.is_sign_negative() { -0.0 } else { 0.0 };
    }
    r
}

// ---- spatial grid (correlation/spatial.py Grid) ---------------------------------------------

pub const ROW: i64 = 1 << 32;

pub struct Grid {
    pub cell_m: f64,
    inv_x: f64,
    inv_y: f64,
    cells: FxHashMap<i64, Vec<Str>>,
}

impl Grid {
    pub fn new(cell_m: f64, m_per_deg: f64, x_scale: f64) -> Self {
        Grid { cell_m, inv_y: m_per_deg / cell_m, inv_x: m_per_deg * x_scale / cell_m, cells: FxHashMap::default() }
    }
    pub fn key(&self, lon: f64, lat: f64) -> i64 {
        (lon * self.inv_x).floor() as i64 * ROW + (lat * self.inv_y).floor() as i64
    }
    pub fn add(&mut self, key: i64, id: &Str) {
        let cell = self.cells.entry(key).or_default();
        if !cell.iter().any(|x| x == id) {
            cell.push(id.clone());
        }
    }
    pub fn remove(&mut self, key: i64, id: &Str) {
        if let Some(cell) = self.cells.get_mut(&key) {
            if let Some(p) = cell.iter().position(|x| x == id) {
                cell.remove(p);
            }
            if cell.is_empty() {
                self.cells.remove(&key);
            }
        }
    }
    pub fn near(&self, m_per_deg: f64, x_scale: f64, lon: f64, lat: f64, radius_m: f64, found: &mut Vec<Str>) {
        if self.cells.is_empty() {
            return;
        }
        if radius_m <= self.cell_m && lat.abs() + radius_m / m_per_deg <= 60.0 {
            let base = self.key(lon, lat);
            for dx in [-1i64, 0, 1] {
                for dy in [-1i64, 0, 1] {
                    if let Some(cell) = self.cells.get(&(base + dx * ROW + dy)) {
                        found.extend(cell.iter().cloned());
                    }
                }
            }
            return;
        }
        let cx = (lon * self.inv_x).floor() as i64;
        let cy = (lat * self.inv_y).floor() as i64;
        let ky = (radius_m / self.cell_m).ceil() as i64;
        let north = f64::min(89.9, lat.abs() + radius_m / m_per_deg);
        let kx = (radius_m * x_scale / (self.cell_m * (north * RAD).cos())).ceil() as i64;
        for x in cx - kx..=cx + kx {
            for y in cy - ky..=cy + ky {
                if let Some(cell) = self.cells.get(&(x * ROW + y)) {
                    found.extend(cell.iter().cloned());
                }
            }
        }
    }
}
