//! `geometry`: plane geometry on plain floats. (Classes such as `Point` and
//! `Polygon` arrive with class support; these functions stay.)

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
    if dx == 0.0 && dy == 0.0 {
        return Err(oxbind::Error::value_error("the zero vector has no direction"));
    }
    Ok(dy.atan2(dx).to_degrees())
}

oxbind::plugin! {
    name: "geometry",
    doc: "Plane geometry.",
    functions: [distance, triangle_area, angle_deg],
}
