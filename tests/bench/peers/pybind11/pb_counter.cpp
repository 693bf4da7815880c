// pb_counter: the benchmark's tiny extension written with pybind11.
#include <pybind11/critical_section.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <unordered_map>
#include <utility>

namespace py = pybind11;

namespace {
struct Counter {
    long long value = 0;
};
}  // namespace

PYBIND11_MODULE(pb_counter, m, py::mod_gil_not_used()) {
    m.def("add", [](long long a, long long b) { return a + b; });
    py::class_<Counter>(m, "Counter")
        .def(py::init<>())
        .def("inc", [](Counter &c) { c.value += 1; })
        // pybind11 has no lock_self: the method takes the object's critical
        // section itself (py::scoped_critical_section, nothing with the GIL),
        // then converts self.
        .def("inc_safe",
             [](py::handle self) {
                 py::scoped_critical_section guard(self);
                 self.cast<Counter &>().value += 1;
             })
        .def_readonly("value", &Counter::value);
    m.def("return_self", [](Counter &c) -> Counter & { return c; },
          py::return_value_policy::reference);
    // Detach (release the GIL) and re-attach around no work.
    m.def("detached", []() { py::gil_scoped_release release; });
    // Call the Python callable f(i) for i in 0..n and sum the int results.
    m.def("call_py", [](py::function f, long long n) {
        long long total = 0;
        for (long long i = 0; i < n; i++) total += f(i).cast<long long>();
        return total;
    });
    // A tuple result and a 10-entry dict result, built afresh.
    m.def("pair", []() { return std::pair<long long, std::string>(1, "one"); });
    m.def("dict10", []() {
        static const char *const keys[10] = {"k0", "k1", "k2", "k3", "k4",
                                             "k5", "k6", "k7", "k8", "k9"};
        std::unordered_map<std::string, long long> d;
        for (long long k = 0; k < 10; k++) d.emplace(keys[k], k);
        return d;
    });
}
