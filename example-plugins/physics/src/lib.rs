//! `physics`: bodies in the plane. It takes, returns and holds
//! `geometry.Point` values without owning the class: it depends on
//! `geometry-types` for the layout, and the shim checks that layout against
//! the one the `geometry` plugin registered.

use geometry_types::{Coord, Point};
use oxbind::Error;

/// A body: a mass at a position.
#[oxbind::class(module = "physics")]
pub struct Body {
    /// Where the body is. A reference into the body: it keeps the body alive.
    #[oxbind(get_ref, set)]
    pub position: Point,
    /// The mass.
    #[oxbind(get, set)]
    pub mass: f64,
}

#[oxbind::methods]
impl Body {
    /// Create a body of `mass` at `position`.
    #[oxbind(new)]
    fn new(position: Point, mass: f64) -> Result<Body, Error> {
        if mass < 0.0 {
            return Err(Error::value_error(format!(
                "mass must be non-negative, got {mass}"
            )));
        }
        Ok(Body { position, mass })
    }

    /// Move the body by (dx, dy).
    fn move_by(&mut self, dx: f64, dy: f64) {
        self.position.x += dx as Coord;
        self.position.y += dy as Coord;
    }

    fn __repr__(&self) -> String {
        format!(
            "Body(position=Point({:?}, {:?}), mass={:?})",
            self.position.x as f64, self.position.y as f64, self.mass
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

/// The total mass of `bodies`.
#[oxbind::function]
pub fn total_mass(bodies: Vec<&Body>) -> f64 {
    bodies.iter().map(|b| b.mass).sum()
}

/// Move the point `p` (a geometry.Point, changed in place) by (dx, dy).
#[oxbind::function]
pub fn nudge(p: &mut Point, dx: f64, dy: f64) {
    p.x += dx as Coord;
    p.y += dy as Coord;
}

/// The body's position: the same object as `body.position`.
#[oxbind::function]
pub fn position_of(body: &Body) -> &Point {
    &body.position
}

oxbind::plugin! {
    name: "physics",
    doc: "Bodies positioned by geometry.Point.",
    functions: [distance, centroid, total_mass, position_of, nudge],
    classes: [Body],
}
