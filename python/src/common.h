#pragma once
// Shared by the binding files: argument conversions (numbers -> Scalar, int or sequence ->
// IntArrayRef, dtype objects), the NumPy bridge and the per-file init functions.
//
// Conventions:
//  - Every binding that runs a kernel releases the GIL while it runs
//    (py::call_guard<py::gil_scoped_release>, or a scoped release after the arguments are
//    converted), so ops from several Python threads run in parallel.
//  - tessera::Error subclasses become the Python exceptions registered in module.cc, with
//    the C++ message unchanged.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tessera/data.h"
#include "tessera/graph.h"
#include "tessera/io.h"
#include "tessera/models.h"
#include "tessera/optim.h"
#include "tessera/serialize.h"
#include "tessera/tessera.h"
#include "tessera/train.h"

namespace py = pybind11;

using GilRelease = py::call_guard<py::gil_scoped_release>;

namespace pybind11::detail {

// Python bool / int / float (and NumPy scalars, through __index__ / __float__) -> Scalar.
// A Tensor never matches, so `add(t, u)` and `add(t, 2)` pick their overloads cleanly.
template <>
struct type_caster<tessera::Scalar> {
  PYBIND11_TYPE_CASTER(tessera::Scalar, const_name("float | int | bool"));
  bool load(handle src, bool convert) {
    if (!src) return false;
    if (PyBool_Check(src.ptr())) {
      value = tessera::Scalar(src.ptr() == Py_True);
      return true;
    }
    if (PyLong_Check(src.ptr())) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(src.ptr(), &overflow);
      if (overflow != 0) return false;
      value = tessera::Scalar(static_cast<int64_t>(v));
      return true;
    }
    if (PyFloat_Check(src.ptr())) {
      value = tessera::Scalar(PyFloat_AS_DOUBLE(src.ptr()));
      return true;
    }
    // NumPy scalars: np.bool_ by its type name (no import needed), integers through
    // __index__, floats through __float__.
    const char* tp = Py_TYPE(src.ptr())->tp_name;
    if (std::strcmp(tp, "numpy.bool_") == 0 || std::strcmp(tp, "numpy.bool") == 0) {
      value = tessera::Scalar(PyObject_IsTrue(src.ptr()) == 1);
      return true;
    }
    if (!convert && !PyNumber_Check(src.ptr())) return false;
    if (PyIndex_Check(src.ptr())) {
      long long v = PyLong_AsLongLong(src.ptr());
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      value = tessera::Scalar(static_cast<int64_t>(v));
      return true;
    }
    if (PyNumber_Check(src.ptr()) && Py_TYPE(src.ptr())->tp_as_number->nb_float) {
      double v = PyFloat_AsDouble(src.ptr());
      if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      value = tessera::Scalar(v);
      return true;
    }
    return false;
  }
  static handle cast(const tessera::Scalar& s, return_value_policy, handle) {
    if (s.is_bool()) return PyBool_FromLong(s.to_int() != 0);
    if (s.is_integral()) return PyLong_FromLongLong(s.to_int());
    return PyFloat_FromDouble(s.to_double());
  }
};

// An int or a sequence of ints (list, tuple, Size) -> IntArrayRef over storage the caster
// owns for the duration of the call. Strings and floats are refused.
template <>
struct type_caster<tessera::IntArrayRef> {
  PYBIND11_TYPE_CASTER(tessera::IntArrayRef, const_name("int | typing.Sequence[int]"));
  std::vector<int64_t> storage;
  bool load(handle src, bool convert) {
    if (!src) return false;
    storage.clear();
    if (PyBool_Check(src.ptr()) || PyFloat_Check(src.ptr())) return false;
    if (PyLong_Check(src.ptr()) || (!PySequence_Check(src.ptr()) && PyIndex_Check(src.ptr()))) {
      long long v = PyLong_AsLongLong(src.ptr());
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      storage.push_back(v);
      value = tessera::IntArrayRef(storage);
      return true;
    }
    if (PyUnicode_Check(src.ptr()) || PyBytes_Check(src.ptr()) || !PySequence_Check(src.ptr()))
      return false;
    // A Tensor is a sequence too; it is not a shape.
    if (py::hasattr(src, "_tessera_tensor")) return false;
    Py_ssize_t n = PySequence_Size(src.ptr());
    if (n < 0) {
      PyErr_Clear();
      return false;
    }
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* item = PySequence_GetItem(src.ptr(), i);
      if (!item) {
        PyErr_Clear();
        return false;
      }
      if (PyBool_Check(item) || PyFloat_Check(item) || !PyIndex_Check(item)) {
        Py_DECREF(item);
        return false;
      }
      long long v = PyLong_AsLongLong(item);
      Py_DECREF(item);
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      storage.push_back(v);
    }
    value = tessera::IntArrayRef(storage);
    return true;
  }
  static handle cast(tessera::IntArrayRef v, return_value_policy, handle) {
    py::tuple t(v.size());
    for (size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
    return t.release();
  }
};

// tessera::StateDict <-> an OrderedDict of str -> Tensor, in order. Accepted from any
// mapping (dict, OrderedDict, what state_dict() returned) or a sequence of (key, tensor)
// pairs; a key that is not a str or a value that is not a Tensor is a TypeError naming it,
// a repeated key (in a pair list) a ValueError.
template <>
struct type_caster<tessera::StateDict> {
  PYBIND11_TYPE_CASTER(tessera::StateDict, const_name("typing.Mapping[str, tessera._C.Tensor]"));
  bool load(handle src, bool) {
    if (!src || PyUnicode_Check(src.ptr()) || PyBytes_Check(src.ptr())) return false;
    if (py::hasattr(src, "_tessera_tensor")) return false;
    py::object items;
    if (PyDict_Check(src.ptr()) || py::hasattr(src, "items")) {
      items = src.attr("items")();
    } else if (PySequence_Check(src.ptr())) {
      items = py::reinterpret_borrow<py::object>(src);
    } else {
      return false;
    }
    tessera::StateDict out;
    for (py::handle item : items) {
      py::tuple kv = py::reinterpret_borrow<py::object>(item).cast<py::tuple>();
      if (kv.size() != 2) throw py::type_error("state dict: expected (key, tensor) pairs, got " + std::string(py::str(item)));
      if (!py::isinstance<py::str>(kv[0]))
        throw py::type_error("state dict: keys must be str, got " + std::string(py::repr(kv[0])));
      const std::string key = kv[0].cast<std::string>();
      if (!py::isinstance<tessera::Tensor>(kv[1]))
        throw py::type_error("state dict: '" + key + "' is a " +
                             std::string(py::str(py::type::of(kv[1]).attr("__name__"))) +
                             ", expected a tessera.Tensor");
      out.insert(key, kv[1].cast<tessera::Tensor>());
    }
    value = std::move(out);
    return true;
  }
  static handle cast(const tessera::StateDict& sd, return_value_policy, handle) {
    py::object od = py::module_::import("collections").attr("OrderedDict")();
    for (const auto& [k, t] : sd) od[py::str(k)] = py::cast(t);
    return od.release();
  }
};

}  // namespace pybind11::detail

namespace tessera::python {

// Sizes as a Python tuple (Tensor.shape; the Size class is plain tuple here).
py::tuple to_tuple(IntArrayRef v);

// NumPy bridge (numpy_bridge.cc).
// Wraps an ndarray without copying; the array stays alive while any view of the tensor
// does. Fails (ValueError) on dtypes Tessera lacks and on negative or unaligned strides.
Tensor from_numpy(py::array arr);
// The tensor's memory as an ndarray without copying; the array keeps the storage alive.
py::array to_numpy(const Tensor& t);
// Any array-like (nested lists, NumPy arrays, Python numbers, tensors) -> a new tensor.
Tensor tensor_from_data(py::handle data, std::optional<DType> dtype);
DType dtype_from_numpy(const py::dtype& dt);
py::dtype numpy_dtype(DType dtype);

// torch.device's counterpart: a device type ("cpu", "cuda", "mps") and an optional index.
// Scripts name devices; Tessera runs on the CPU, so `.to()` accepts "cpu" only and any
// other device is a ValueError there (constructing one is fine, as in PyTorch).
struct PyDevice {
  std::string type;
  int64_t index = -1;  // -1: none given
  std::string str() const { return index < 0 ? type : type + ":" + std::to_string(index); }
};
// The device a `.to()` argument names (a str or a tessera.device), or nullopt when it is
// something else (a dtype).
std::optional<std::string> device_name(py::handle h);
// Refuses every device but the CPU, naming it.
void check_cpu_device(const std::string& device, const char* who);

// What a compiled Python callable returned the last time it was traced: one tensor, or a
// tuple or list of them (a compiled call returns the same kind). The default (nothing
// traced from Python: a loaded graph, an imported ONNX model): one output comes back as a
// Tensor, several as a tuple.
struct ResultKind {
  bool single = true;
  bool list = false;
};

// tessera.CompiledFunction (graph.cc); onnx.cc makes them too (Model.compile) and exports
// their functions.
struct PyCompiled {
  CompiledFunction fn;
  std::shared_ptr<ResultKind> kind;
};

// "tessera.float32" (the dtype's Python name).
std::string dtype_repr(DType dtype);

void init_dtype(py::module_& m);
void init_tensor(py::module_& m);
void init_ops(py::module_& m);
void init_autograd(py::module_& m);
void init_nn(py::module_& m);
void init_optim(py::module_& m);
void init_data(py::module_& m);
void init_train(py::module_& m);
void init_io(py::module_& m);
void init_graph(py::module_& m);
void init_onnx(py::module_& m);

}  // namespace tessera::python
