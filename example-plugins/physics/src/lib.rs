//! `physics`: bodies in the plane. It takes, returns and holds
//! `geometry.Point` values without owning the class: it depends on
//! `geometry-types` for the layout, and the shim checks that layout against
//! the one the `geometry` plugin registered.

use geometry_types::{Axis, Coord, Point};
use oxbind::Error;

/// A mass: a finite number greater than zero. It is checked wherever it
/// comes from Python, as a parameter or through the `mass` setter alike,
/// because both convert it through `arg_via!`; to Python it is a `float`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Mass(f64);

impl Mass {
    /// `value` as a mass, or ValueError. Written as what a mass must be,
    /// not as `value <= 0.0`, which NaN would slip past.
    pub fn new(value: f64) -> Result<Mass, Error> {
        if value.is_finite() && value > 0.0 {
            return Ok(Mass(value));
        }
        Err(Error::value_error(format!(
            "a mass must be a finite number greater than 0, not {value:?}"
        )))
    }

    /// The mass as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

// A float from Python, checked by `Mass::new`; a float back to Python.
oxbind::arg_via!(Mass: f64 => Mass::new);
oxbind::return_via!(Mass => f64, Mass::get);

/// A body: a mass at a position.
#[oxbind::class(module = "physics")]
pub struct Body {
    /// Where the body is. A reference into the body: it keeps the body alive.
    #[oxbind(get_ref, set)]
    pub position: Point,
    /// The mass: a finite number greater than 0 (ValueError otherwise).
    #[oxbind(get, set)]
    pub mass: Mass,
}

#[oxbind::methods]
impl Body {
    /// Create a body of `mass` (a finite number greater than 0) at `position`.
    #[oxbind(new)]
    fn new(position: Point, mass: Mass) -> Body {
        Body { position, mass }
    }

    /// Move the body by (dx, dy).
    fn move_by(&mut self, dx: f64, dy: f64) {
        self.position.x += dx as Coord;
        self.position.y += dy as Coord;
    }

    // `Coord` is f64, or f32 with `fixture-bad-point`: the casts to f64 are
    // no-ops only in the default build.
    #[allow(clippy::unnecessary_cast)]
    fn __repr__(&self) -> String {
        format!(
            "Body(position=Point({:?}, {:?}), mass={:?})",
            self.position.x as f64,
            self.position.y as f64,
            self.mass.get()
        )
    }
}

/// Distance between two points.
#[oxbind::function]
pub fn distance(a: &Point, b: &Point) -> f64 {
    (*b - *a).norm()
}

/// The centroid of `points`, as a new geometry.Point.
#[oxbind::function]
// `Coord` is f64, or f32 with `fixture-bad-point`: the casts to f64 are
// no-ops only in the default build.
#[allow(clippy::unnecessary_cast)]
pub fn centroid(points: Vec<&Point>) -> Result<Point, Error> {
    if points.is_empty() {
        return Err(Error::value_error("the centroid of no points is undefined"));
    }
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), p| (sx + p.x as f64, sy + p.y as f64));
    Ok(Point::new(sx / n, sy / n))
}

/// The total mass of `bodies` (0.0 for none).
#[oxbind::function]
pub fn total_mass(bodies: Vec<&Body>) -> f64 {
    // Not `.sum()`: a float sum of nothing is -0.0.
    bodies.iter().fold(0.0, |total, b| total + b.mass.get())
}

/// Move the point `p` (a geometry.Point, changed in place) by (dx, dy).
#[oxbind::function]
pub fn nudge(p: &mut Point, dx: f64, dy: f64) {
    p.x += dx as Coord;
    p.y += dy as Coord;
}

/// The body's coordinate along `axis` (a `geometry.Axis`, an enum this
/// plugin uses and geometry owns).
#[oxbind::function]
#[allow(clippy::unnecessary_cast)] // `Coord` is f32 in the bad-layout fixture
pub fn coordinate(body: &Body, axis: Axis) -> f64 {
    match axis {
        Axis::X => body.position.x as f64,
        Axis::Y => body.position.y as f64,
    }
}

/// The axis along which `body` is farther from the origin.
#[oxbind::function]
#[allow(clippy::unnecessary_cast)] // `Coord` is f32 in the bad-layout fixture
pub fn major_axis(body: &Body) -> Axis {
    if (body.position.x as f64).abs() >= (body.position.y as f64).abs() {
        Axis::X
    } else {
        Axis::Y
    }
}

/// The body's position: the same object as `body.position`.
#[oxbind::function]
pub fn position_of(body: &Body) -> &Point {
    &body.position
}

oxbind::plugin! {
    name: "physics",
    doc: "Bodies positioned by geometry.Point.",
    functions: [distance, centroid, total_mass, position_of, nudge, coordinate, major_axis],
    classes: [Body],
}
