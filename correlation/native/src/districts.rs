//! The district point locator: ingest/districts.py `Districts.at` over the same grid and
//! polygons, so a point lands in the same district as in Python.

use crate::prelude::*;

// ---- district locator ------------------------------------------------------------------------

pub type Ring = Vec<(f64, f64)>;
pub type Poly = Vec<Ring>; // shell, holes

pub struct Locator {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub nx: i64,
    pub kx: f64,
    pub ky: f64,
    pub cells: Vec<i64>,
    pub candidates: FxHashMap<i64, Vec<usize>>,
    pub polygons: Vec<Vec<Poly>>, // per district
}

pub const OUTSIDE: i64 = -1;

impl Locator {
    pub fn cell(&self, lon: f64, lat: f64) -> i64 {
        if !(self.x0 <= lon && lon < self.x1 && self.y0 <= lat && lat < self.y1) {
            return -1;
        }
        // Python int() truncates toward zero; both factors are >= 0 here
        (((lat - self.y0) * self.ky) as i64) * self.nx + (((lon - self.x0) * self.kx) as i64)
    }

    /// Index of the district containing the point (boundary included), None outside.
    pub fn at(&self, lon: f64, lat: f64) -> Option<usize> {
        let cell = self.cell(lon, lat);
        if cell < 0 {
            return None;
        }
        let found = self.cells[cell as usize];
        if found >= 0 {
            return Some(found as usize);
        }
        if found == OUTSIDE {
            return None;
        }
        if let Some(cands) = self.candidates.get(&cell) {
            for &index in cands {
                if self.polygons[index].iter().any(|p| polygon_covers(p, lon, lat)) {
                    return Some(index);
                }
            }
        }
        None
    }
}

/// GEOS RayCrossingCounter: 0 outside, 1 on the boundary, 2 inside (for one ring).
pub fn ring_location(ring: &Ring, px: f64, py: f64) -> u8 {
    let mut crossings = 0u32;
    for w in ring.windows(2) {
        let (x1, y1) = w[0];
        let (x2, y2) = w[1];
        if x1 < px && x2 < px {
            continue;
        }
        if px == x2 && py == y2 {
            return 1;
        }
        if y1 == py && y2 == py {
            let (minx, maxx) = if x1 > x2 { (x2, x1) } else { (x1, x2) };
            if px >= minx && px <= maxx {
                return 1;
            }
            continue;
        }
        if (y1 > py && y2 <= py) || (y2 > py && y1 <= py) {
            let o = robust::orient2d(
                robust::Coord { x: x1, y: y1 },
                robust::Coord { x: x2, y: y2 },
                robust::Coord { x: px, y: py },
            );
            // robust: > 0 = counter-clockwise (left), like GEOS orientationIndex = 1
            let mut orient: i32 = if o > 0.0 {
                1
            } else if o < 0.0 {
                -1
            } else {
                0
            };
            if orient == 0 {
                return 1;
            }
            if y2 < y1 {
                orient = -orient;
            }
            if orient > 0 {
                crossings += 1;
            }
        }
    }
    if crossings % 2 == 1 {
        2
    } else {
        0
    }
}

/// shapely.intersects_xy(polygon, x, y): interior or boundary.
pub fn polygon_covers(poly: &Poly, px: f64, py: f64) -> bool {
    match ring_location(&poly[0], px, py) {
        0 => false,
        1 => true,
        _ => {
            for hole in &poly[1..] {
                match ring_location(hole, px, py) {
                    1 => return true,
                    2 => return false,
                    _ => {}
                }
            }
            true
        }
    }
}
