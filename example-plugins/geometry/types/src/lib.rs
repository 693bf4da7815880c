//! The types the `geometry` plugin shares with other plugins.
//!
//! A plugin that takes or returns `geometry.Point` depends on this crate, not
//! on the `geometry` plugin: the class is declared `shared`, so its layout
//! travels with it and is checked against the owner's wherever plugins meet.

use abi_stable::StableAbi;
use oxbind::Error;

/// The coordinate type: f64, except in the bad-layout test fixture.
#[cfg(not(feature = "fixture-bad-point"))]
pub type Coord = f64;
#[cfg(feature = "fixture-bad-point")]
pub type Coord = f32;

/// A coordinate axis: a Python enum shared by every plugin that uses it
/// (physics takes one), its members checked by its abi_stable layout.
#[oxbind::class(module = "geometry", shared)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, StableAbi)]
#[repr(u8)]
pub enum Axis {
    X = 0,
    Y = 1,
}

/// A point in the plane.
#[oxbind::class(module = "geometry", shared)]
#[derive(Clone, Copy, Debug, PartialEq, StableAbi)]
#[repr(C)]
pub struct Point {
    /// The x coordinate.
    #[oxbind(get, set)]
    pub x: Coord,
    /// The y coordinate.
    #[oxbind(get, set)]
    pub y: Coord,
}

#[oxbind::methods]
// `Coord` is f64, or f32 with `fixture-bad-point`: `self.x as f64` is a
// no-op only in the default build, and is needed in the fixture's.
#[allow(clippy::unnecessary_cast)]
impl Point {
    /// Create the point (x, y).
    #[oxbind(new)]
    pub fn new(x: f64, y: f64) -> Point {
        Point {
            x: x as Coord,
            y: y as Coord,
        }
    }

    /// The origin, (0, 0).
    #[oxbind(staticmethod)]
    pub fn origin() -> Point {
        Point { x: 0.0, y: 0.0 }
    }

    /// Distance from the origin.
    pub fn norm(&self) -> f64 {
        (self.x as f64).hypot(self.y as f64)
    }

    /// Scale the point in place by `factor`.
    pub fn scale(&mut self, factor: f64) {
        self.x = (self.x as f64 * factor) as Coord;
        self.y = (self.y as f64 * factor) as Coord;
    }

    /// Move this point to where `other` is.
    pub fn set_to(&mut self, other: &Point) {
        *self = *other;
    }

    fn __repr__(&self) -> String {
        format!("Point({:?}, {:?})", self.x as f64, self.y as f64)
    }

    fn __eq__(&self, other: &Point) -> bool {
        self == other
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.x as f64).to_bits().hash(&mut h);
        (self.y as f64).to_bits().hash(&mut h);
        h.finish() >> 1
    }

    fn __add__(&self, other: &Point) -> Point {
        *self + *other
    }

    fn __sub__(&self, other: &Point) -> Point {
        *self - *other
    }

    fn __mul__(&self, factor: f64) -> Point {
        Point {
            x: (self.x as f64 * factor) as Coord,
            y: (self.y as f64 * factor) as Coord,
        }
    }

    fn __neg__(&self) -> Point {
        Point {
            x: -self.x,
            y: -self.y,
        }
    }
}

impl std::ops::Add for Point {
    type Output = Point;
    fn add(self, other: Point) -> Point {
        Point {
            x: self.x + other.x,
            y: self.y + other.y,
        }
    }
}

impl std::ops::Sub for Point {
    type Output = Point;
    fn sub(self, other: Point) -> Point {
        Point {
            x: self.x - other.x,
            y: self.y - other.y,
        }
    }
}

/// The point (x, y): registered as the implicit conversion from a
/// `(x, y)` tuple, so a tuple works wherever a Point is expected.
#[oxbind::function]
pub fn point_from_tuple(x: f64, y: f64) -> Point {
    Point::new(x, y)
}

/// Checks an index against a length, Python style (negative counts from
/// the end).
pub fn normalize_index(index: isize, len: usize) -> Result<usize, Error> {
    let i = if index < 0 {
        index + len as isize
    } else {
        index
    };
    if i < 0 || i as usize >= len {
        return Err(Error::index_error(format!(
            "index {index} is out of range for length {len}"
        )));
    }
    Ok(i as usize)
}
