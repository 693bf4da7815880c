// nb_counter: the benchmark's tiny extension written with nanobind.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unordered_map.h>

#include <string>
#include <unordered_map>
#include <utility>

namespace nb = nanobind;

namespace {
struct Counter {
    long long value = 0;
};
}  // namespace

NB_MODULE(nb_counter, m) {
    m.def("add", [](long long a, long long b) { return a + b; });
    nb::class_<Counter>(m, "Counter")
        .def(nb::init<>())
        .def("inc", [](Counter &c) { c.value += 1; })
        // The object's critical section for the call (nothing with the GIL).
        .def("inc_safe", [](Counter &c) { c.value += 1; }, nb::lock_self())
        .def_ro("value", &Counter::value);
    m.def("return_self", [](Counter &c) -> Counter & { return c; },
          nb::rv_policy::reference);
    // Detach (release the GIL) and re-attach around no work.
    m.def("detached", []() { nb::gil_scoped_release release; });
    // Call the Python callable f(i) for i in 0..n and sum the int results.
    m.def("call_py", [](nb::callable f, long long n) {
        long long total = 0;
        for (long long i = 0; i < n; i++) total += nb::cast<long long>(f(i));
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
    // The sum of a C-contiguous float64 array, read in place.
    m.def("sum_f64", [](nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu> a) {
        const double *d = a.data();
        double s = 0.0;
        for (size_t i = 0, n = a.shape(0); i < n; i++) s += d[i];
        return s;
    });
    // 0.0, 1.0, ..., n - 1 as a NumPy array owning C++ memory.
    m.def("arange", [](size_t n) {
        double *d = new double[n];
        for (size_t i = 0; i < n; i++) d[i] = (double) i;
        nb::capsule owner(d, [](void *p) noexcept { delete[] (double *) p; });
        return nb::ndarray<nb::numpy, double, nb::ndim<1>>(d, {n}, owner);
    });
}
