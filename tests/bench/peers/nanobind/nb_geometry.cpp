// nb_geometry: binds Point, for the cross-module benchmark (nb_physics uses it).
#include <nanobind/nanobind.h>

#include "point.h"

namespace nb = nanobind;

NB_MODULE(nb_geometry, m) {
    nb::class_<Point>(m, "Point")
        .def(nb::init<double, double>())
        .def_rw("x", &Point::x)
        .def_rw("y", &Point::y);
}
