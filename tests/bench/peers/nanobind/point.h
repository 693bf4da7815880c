// The Point shared by nb_geometry (which binds it) and nb_physics (which
// only uses it): nanobind finds the binding through its shared internals.
#pragma once

struct Point {
    double x, y;
};
