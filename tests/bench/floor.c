/* The floor for oxbind's benchmarks: the same tiny API as the `counter`
 * plugin, written directly against the CPython C API. Built by
 * `cargo xtask bench` for each interpreter; never part of oxbind. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    long long value;
} CounterObject;

static PyObject *counter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    CounterObject *self = (CounterObject *)type->tp_alloc(type, 0);
    if (self) self->value = 0;
    return (PyObject *)self;
}

static void counter_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *counter_inc(PyObject *self, PyObject *unused) {
    ((CounterObject *)self)->value += 1;
    Py_RETURN_NONE;
}

/* inc() under the object's critical section (3.13+; a no-op with the GIL). */
static PyObject *counter_inc_safe(PyObject *self, PyObject *unused) {
#if PY_VERSION_HEX >= 0x030D0000
    Py_BEGIN_CRITICAL_SECTION(self);
    ((CounterObject *)self)->value += 1;
    Py_END_CRITICAL_SECTION();
#else
    ((CounterObject *)self)->value += 1;
#endif
    Py_RETURN_NONE;
}

static PyObject *counter_value(PyObject *self, void *closure) {
    return PyLong_FromLongLong(((CounterObject *)self)->value);
}

static PyMethodDef counter_methods[] = {
    {"inc", counter_inc, METH_NOARGS, NULL},
    {"inc_safe", counter_inc_safe, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef counter_getset[] = {
    {"value", counter_value, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot counter_slots[] = {
    {Py_tp_new, counter_new},
    {Py_tp_dealloc, counter_dealloc},
    {Py_tp_methods, counter_methods},
    {Py_tp_getset, counter_getset},
    {0, NULL},
};

static PyType_Spec counter_spec = {"floor.Counter", sizeof(CounterObject), 0, Py_TPFLAGS_DEFAULT, counter_slots};

static PyObject *floor_add(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add() takes 2 arguments");
        return NULL;
    }
    long long a = PyLong_AsLongLong(args[0]);
    if (a == -1 && PyErr_Occurred()) return NULL;
    long long b = PyLong_AsLongLong(args[1]);
    if (b == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromLongLong(a + b);
}

static PyObject *floor_return_self(PyObject *m, PyObject *arg) {
    return Py_NewRef(arg);
}

/* Detaches from the interpreter and re-attaches (releases and retakes the
   GIL with one): the round trip around native work. */
static PyObject *floor_detached(PyObject *m, PyObject *unused) {
    Py_BEGIN_ALLOW_THREADS
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* call_py(f, n): calls f(i) for i in 0..n, each with one int argument, and
   returns the sum of the results as an int: the cost of calling a Python
   callable from native code. */
static PyObject *floor_call_py(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "call_py() takes 2 arguments");
        return NULL;
    }
    PyObject *f = args[0];
    long long n = PyLong_AsLongLong(args[1]);
    if (n == -1 && PyErr_Occurred()) return NULL;
    long long total = 0;
    for (long long i = 0; i < n; i++) {
        PyObject *arg = PyLong_FromLongLong(i);
        if (!arg) return NULL;
        PyObject *out = PyObject_Vectorcall(f, &arg, 1, NULL);
        Py_DECREF(arg);
        if (!out) return NULL;
        long long v = PyLong_AsLongLong(out);
        Py_DECREF(out);
        if (v == -1 && PyErr_Occurred()) return NULL;
        total += v;
    }
    return PyLong_FromLongLong(total);
}

/* pair(): the tuple (1, "one"), built afresh: a tuple result. */
static PyObject *floor_pair(PyObject *m, PyObject *unused) {
    PyObject *t = PyTuple_New(2);
    if (!t) return NULL;
    PyObject *a = PyLong_FromLongLong(1);
    PyObject *b = PyUnicode_FromStringAndSize("one", 3);
    if (!a || !b) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_DECREF(t);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}

/* dict10(): {"k0": 0, ..., "k9": 9}, built afresh: a dict result. */
static const char *const KEYS[10] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};

static PyObject *floor_dict10(PyObject *m, PyObject *unused) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (long long k = 0; k < 10; k++) {
        PyObject *key = PyUnicode_FromStringAndSize(KEYS[k], 2);
        PyObject *value = PyLong_FromLongLong(k);
        int failed = !key || !value || PyDict_SetItem(d, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* sum_f64(a): the sum of a C-contiguous float64 buffer, read in place. */
static PyObject *floor_sum_f64(PyObject *m, PyObject *obj) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (view.itemsize != 8 || !view.format || strcmp(view.format, "d") != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "expected a float64 buffer");
        return NULL;
    }
    const double *d = (const double *) view.buf;
    Py_ssize_t n = view.len / 8;
    double s = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) s += d[i];
    PyBuffer_Release(&view);
    return PyFloat_FromDouble(s);
}

/* arange(n): 0.0, 1.0, ..., n - 1 as float64 memory a NumPy array can
   share: a bytearray, filled, seen through a memoryview cast to 'd'. */
static PyObject *floor_arange(PyObject *m, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    PyObject *bytes = PyByteArray_FromStringAndSize(NULL, n * 8);
    if (!bytes) return NULL;
    double *d = (double *) PyByteArray_AS_STRING(bytes);
    for (Py_ssize_t i = 0; i < n; i++) d[i] = (double) i;
    PyObject *view = PyMemoryView_FromObject(bytes);
    Py_DECREF(bytes);
    if (!view) return NULL;
    PyObject *cast = PyObject_CallMethod(view, "cast", "s", "d");
    Py_DECREF(view);
    return cast;
}

static PyMethodDef floor_methods[] = {
    {"add", (PyCFunction)(void (*)(void))floor_add, METH_FASTCALL, NULL},
    {"return_self", floor_return_self, METH_O, NULL},
    {"detached", floor_detached, METH_NOARGS, NULL},
    {"call_py", (PyCFunction)(void (*)(void))floor_call_py, METH_FASTCALL, NULL},
    {"pair", floor_pair, METH_NOARGS, NULL},
    {"dict10", floor_dict10, METH_NOARGS, NULL},
    {"sum_f64", floor_sum_f64, METH_O, NULL},
    {"arange", floor_arange, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static int floor_exec(PyObject *m) {
    PyObject *counter = PyType_FromSpec(&counter_spec);
    if (!counter) return -1;
    return PyModule_Add(m, "Counter", counter);
}

static PyModuleDef_Slot floor_module_slots[] = {
    {Py_mod_exec, floor_exec},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef floor_module = {PyModuleDef_HEAD_INIT, "floor", NULL, 0, floor_methods, floor_module_slots};

PyMODINIT_FUNC PyInit_floor(void) { return PyModuleDef_Init(&floor_module); }
