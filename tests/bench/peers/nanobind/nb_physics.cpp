// nb_physics: distance(p, q) on nb_geometry's Points, a type another module
// binds (import nb_geometry first).
#include <cmath>

#include <nanobind/nanobind.h>

#include "point.h"

namespace nb = nanobind;

NB_MODULE(nb_physics, m) {
    m.def("distance", [](const Point &a, const Point &b) {
        return std::hypot(b.x - a.x, b.y - a.y);
    });
}
