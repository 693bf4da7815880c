//! `geometry`: plane geometry. It owns the class `geometry.Point` (defined
//! in `geometry-types`, so that other plugins can share it) and
//! `geometry.Polygon`, and registers the implicit conversion from an
//! `(x, y)` tuple to a Point.

use geometry_types::{normalize_index, point_from_tuple, Axis, Point};
use oxbind::Error;

/// A polygon: a closed sequence of points.
#[oxbind::class(module = "geometry")]
pub struct Polygon {
    points: Vec<Point>,
}

#[oxbind::methods]
impl Polygon {
    /// Create a polygon from its corners, in order.
    #[oxbind(new)]
    fn new(points: Vec<Point>) -> Polygon {
        Polygon { points }
    }

    /// The enclosed area (shoelace formula; always non-negative, and 0.0
    /// for a polygon without corners).
    fn area(&self) -> f64 {
        let n = self.points.len();
        let twice = (0..n)
            .map(|i| {
                let (a, b) = (self.points[i], self.points[(i + 1) % n]);
                a.x * b.y - b.x * a.y
            })
            .fold(0.0, |total: f64, term| total + term);
        twice.abs() / 2.0
    }

    /// The perimeter (0.0 for a polygon without corners).
    fn perimeter(&self) -> f64 {
        let n = self.points.len();
        // Not `.sum()`: a float sum of nothing is -0.0.
        (0..n)
            .map(|i| (self.points[(i + 1) % n] - self.points[i]).norm())
            .fold(0.0, |total, side| total + side)
    }

    /// The corners, as new Points.
    fn corners(&self) -> Vec<Point> {
        self.points.clone()
    }

    /// The lengths of the sides, in order.
    fn side_lengths(&self) -> Vec<f64> {
        let n = self.points.len();
        (0..n)
            .map(|i| (self.points[(i + 1) % n] - self.points[i]).norm())
            .collect()
    }

    /// Split a convex polygon into triangles fanning out from its first corner.
    fn triangulate(&self) -> Vec<Polygon> {
        (1..self.points.len().saturating_sub(1))
            .map(|i| Polygon {
                points: vec![self.points[0], self.points[i], self.points[i + 1]],
            })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.points.len()
    }

    fn __iter__(&self) -> Vec<Point> {
        self.points.clone()
    }

    fn __getitem__(&self, index: isize) -> Result<Point, Error> {
        Ok(self.points[normalize_index(index, self.points.len())?])
    }

    fn __repr__(&self) -> String {
        format!("Polygon({} points)", self.points.len())
    }
}

/// Euclidean distance between (x1, y1) and (x2, y2).
#[oxbind::function]
pub fn distance(x1: f64, y1: f64, x2: f64, y2: f64) -> f64 {
    (x2 - x1).hypot(y2 - y1)
}

/// Area of the triangle with corners a, b and c (always non-negative).
#[oxbind::function]
pub fn triangle_area(ax: f64, ay: f64, bx: f64, by: f64, cx: f64, cy: f64) -> f64 {
    ((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)).abs() / 2.0
}

/// Direction of the vector (dx, dy) in degrees, in (-180, 180].
#[oxbind::function]
pub fn angle_deg(dx: f64, dy: f64) -> oxbind::Result<f64> {
    if dx.is_nan() || dy.is_nan() {
        // `dx == 0.0` below is false for NaN: check it first.
        return Err(oxbind::Error::value_error(format!(
            "angle_deg(): the vector ({dx}, {dy}) has a NaN component and no direction"
        )));
    }
    if dx == 0.0 && dy == 0.0 {
        return Err(oxbind::Error::value_error(
            "the zero vector has no direction",
        ));
    }
    let degrees = dy.atan2(dx).to_degrees();
    // atan2 gives -180 for dy = -0.0 and a negative dx: the same direction.
    Ok(if degrees == -180.0 { 180.0 } else { degrees })
}

/// The midpoint of a and b.
#[oxbind::function]
pub fn midpoint(a: &Point, b: &Point) -> Point {
    Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)
}

/// Scale a point by `factor`.
#[oxbind::function(name = "scaled")]
pub fn scaled_point(p: &Point, factor: f64) -> Point {
    Point::new(p.x * factor, p.y * factor)
}

/// Scale every corner of a polygon by `factor`.
#[oxbind::function(name = "scaled")]
pub fn scaled_polygon(polygon: &Polygon, factor: f64) -> Polygon {
    Polygon {
        points: polygon
            .points
            .iter()
            .map(|p| Point::new(p.x * factor, p.y * factor))
            .collect(),
    }
}

/// Scale a number by `factor`.
#[oxbind::function(name = "scaled")]
pub fn scaled_number(x: f64, factor: f64) -> f64 {
    x * factor
}

oxbind::plugin! {
    name: "geometry",
    doc: "Plane geometry: Point, Polygon and friends.",
    functions: [distance, triangle_area, angle_deg, midpoint, scaled_point, scaled_polygon, scaled_number],
    classes: [Point, Polygon],
    enums: [Axis],
    conversions: [point_from_tuple],
}
