// NumPy <-> Tensor without copies. Each side keeps the other's memory alive:
//  - from_numpy: the Tensor's Storage holds a reference to the ndarray; its deleter drops
//    that reference under the GIL, from whichever thread frees the last view.
//  - to_numpy: the ndarray's base is a capsule holding a Tensor handle, so the Storage
//    lives as long as the array (or any array viewing it).
#include <cstring>

#include "common.h"

namespace tessera::python {

py::tuple to_tuple(IntArrayRef v) {
  py::tuple t(v.size());
  for (size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
  return t;
}

DType dtype_from_numpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'b') return DType::Bool;
  if (kind == 'u' && size == 1) return DType::UInt8;
  if (kind == 'i' && size == 1) return DType::Int8;
  if (kind == 'i' && size == 4) return DType::Int32;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'f' && size == 2) return DType::Float16;
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  throw py::type_error("tessera: NumPy dtype " + py::str(py::handle(dt)).cast<std::string>() +
                       " has no Tessera dtype (supported: bool, uint8, int8, int32, int64, "
                       "float16, float32, float64)");
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::Bool: return py::dtype("bool");
    case DType::UInt8: return py::dtype("uint8");
    case DType::Int8: return py::dtype("int8");
    case DType::Int32: return py::dtype("int32");
    case DType::Int64: return py::dtype("int64");
    case DType::Float16: return py::dtype("float16");
    case DType::Float32: return py::dtype("float32");
    case DType::Float64: return py::dtype("float64");
    case DType::BFloat16: break;
  }
  throw py::type_error("numpy: tessera.bfloat16 has no NumPy dtype; convert with .float() first");
}

Tensor from_numpy(py::array arr) {
  const DType dtype = dtype_from_numpy(arr.dtype());
  if (arr.dtype().byteorder() == '>')
    throw py::value_error("from_numpy: big-endian arrays are not supported; use arr.astype(arr.dtype.newbyteorder('='))");
  const auto ndim = static_cast<size_t>(arr.ndim());
  const auto item = static_cast<int64_t>(arr.itemsize());
  std::vector<int64_t> sizes(ndim), strides(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    sizes[i] = arr.shape(static_cast<py::ssize_t>(i));
    const int64_t bytes = arr.strides(static_cast<py::ssize_t>(i));
    if (bytes < 0)
      throw py::value_error("from_numpy: the array has a negative stride (" + std::to_string(bytes) +
                            " bytes in dim " + std::to_string(i) +
                            "); Tessera views need non-negative strides: pass arr.copy()");
    if (bytes % item != 0)
      throw py::value_error("from_numpy: stride " + std::to_string(bytes) + " bytes in dim " +
                            std::to_string(i) + " is not a multiple of the item size " +
                            std::to_string(item) + ": pass arr.copy()");
    strides[i] = bytes / item;
  }
  auto* owner = new py::object(arr);
  auto release = [owner](void*) {
    // After interpreter shutdown there is nothing left to release (and no GIL to take).
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    delete owner;
  };
  try {
    return from_blob(const_cast<void*>(arr.data()), sizes, strides, dtype, release);
  } catch (...) {
    delete owner;
    throw;
  }
}

py::array to_numpy(const Tensor& t) {
  py::dtype dt = numpy_dtype(t.dtype());
  std::vector<py::ssize_t> shape, strides;
  const auto item = static_cast<py::ssize_t>(t.itemsize());
  for (int64_t i = 0; i < t.dim(); ++i) {
    shape.push_back(t.size(i));
    strides.push_back(t.stride(i) * item);
  }
  py::capsule base(new Tensor(t), [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, t.data_ptr(), base);
}

Tensor tensor_from_data(py::handle data, std::optional<DType> dtype) {
  py::module_ np = py::module_::import("numpy");
  bool from_python = !py::isinstance<py::array>(data);
  py::array arr = py::array::ensure(data);
  if (!arr) {
    PyErr_Clear();
    throw py::type_error("tensor: cannot make a tensor from " +
                         py::str(py::type::handle_of(data)).cast<std::string>());
  }
  if (arr.dtype().kind() == 'O')
    throw py::type_error("tensor: expected numbers or (nested) sequences of numbers of one shape, got " +
                         py::repr(data).cast<std::string>().substr(0, 200));
  // Python floats are float64 to NumPy but the default float (float32) to Tessera, as to
  // PyTorch; an ndarray keeps its own dtype.
  if (from_python && arr.dtype().kind() == 'f') arr = np.attr("asarray")(arr, "float32");
  if (arr.dtype().kind() == 'u' && arr.itemsize() > 1) arr = np.attr("asarray")(arr, "int64");
  if (arr.dtype().byteorder() == '>') arr = arr.attr("astype")(arr.dtype().attr("newbyteorder")("="));
  // (ascontiguousarray would turn a 0-d array into a 1-d one.)
  if (!(arr.flags() & py::array::c_style)) arr = arr.attr("copy")("C");
  Tensor view = from_numpy(arr);
  py::gil_scoped_release release;
  Tensor out = view.clone();
  if (dtype && *dtype != out.dtype()) out = out.to(*dtype);
  return out;
}

}  // namespace tessera::python
