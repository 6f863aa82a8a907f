// tessera.Tensor: metadata, NumPy interop (buffer protocol, __array__, .numpy()),
// operators, indexing with views, conversions and autograd attributes.
#include <cmath>

#include "common.h"

namespace tessera::python {
namespace {

std::string long_dtype_name(DType d) {
  switch (d) {
    case DType::Bool: return "bool";
    case DType::UInt8: return "uint8";
    case DType::Int8: return "int8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "?";
}

// A Python number as a 0-d tensor that promotes like PyTorch's wrapped numbers: it takes
// the tensor's dtype unless it is of a higher kind (a float with an integer tensor).
Tensor wrap_scalar(const Scalar& s, const Tensor& like) {
  DType dt = like.dtype();
  if (s.is_floating() && !is_floating(dt)) dt = DType::Float32;
  if (s.is_integral() && dt == DType::Bool) dt = DType::Int64;
  return scalar_tensor(s, dt);
}

bool is_tensor(py::handle h) { return py::isinstance<Tensor>(h); }

// Binary operator with a Tensor on the left and a Tensor or a number on the right.
template <typename TT, typename TS>
py::object binary(const Tensor& a, py::handle b, TT tt, TS ts) {
  if (is_tensor(b)) {
    const Tensor& bt = b.cast<const Tensor&>();
    Tensor out;
    {
      py::gil_scoped_release r;
      out = tt(a, bt);
    }
    return py::cast(std::move(out));
  }
  py::detail::make_caster<Scalar> c;
  if (!c.load(b, true)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  Scalar s = py::detail::cast_op<Scalar>(c);
  Tensor out;
  {
    py::gil_scoped_release r;
    out = ts(a, s);
  }
  return py::cast(std::move(out));
}

// The reflected form (number on the left): both sides as tensors.
template <typename TT>
py::object rbinary(const Tensor& a, py::handle b, TT tt) {
  py::detail::make_caster<Scalar> c;
  if (!c.load(b, true)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  Scalar s = py::detail::cast_op<Scalar>(c);
  Tensor out;
  {
    py::gil_scoped_release r;
    out = tt(wrap_scalar(s, a), a);
  }
  return py::cast(std::move(out));
}

Tensor as_tensor_like(py::handle v, const Tensor& like) {
  if (is_tensor(v)) return v.cast<Tensor>();
  py::detail::make_caster<Scalar> c;
  if (c.load(v, true)) return wrap_scalar(py::detail::cast_op<Scalar>(c), like);
  return tensor_from_data(v, like.dtype());
}

// ---------------------------------------------------------------- indexing
// NumPy/PyTorch indexing: ints select (drop a dim), slices narrow (views), None adds a
// dim, Ellipsis fills, and tensors / lists / arrays of ints or bools index (copies, as in
// PyTorch). Advanced indices must sit next to each other (the common case); their result
// dims replace theirs in place.

struct Indexed {
  Tensor view;                    // after the basic (view) indices
  std::vector<Tensor> advanced;   // int64 index tensors, one per consecutive dim
  int64_t adv_dim = -1;           // first dim of `view` they apply to
};

bool is_advanced(py::handle h) {
  if (is_tensor(h)) return true;
  if (py::isinstance<py::array>(h)) return true;
  return py::isinstance<py::list>(h);
}

// A bool mask over dims [d, d + mask.dim()) -> one int64 index tensor per masked dim.
std::vector<Tensor> mask_to_indices(const Tensor& mask) {
  std::vector<bool> values = mask.to_vector<bool>();
  const int64_t k = mask.dim();
  std::vector<std::vector<int64_t>> idx(static_cast<size_t>(k));
  Shape strides = contiguous_strides(mask.sizes());
  for (int64_t flat = 0; flat < static_cast<int64_t>(values.size()); ++flat) {
    if (!values[static_cast<size_t>(flat)]) continue;
    int64_t rem = flat;
    for (int64_t d = 0; d < k; ++d) {
      idx[static_cast<size_t>(d)].push_back(rem / strides[static_cast<size_t>(d)]);
      rem %= strides[static_cast<size_t>(d)];
    }
  }
  std::vector<Tensor> out;
  for (auto& v : idx) out.push_back(tensor<int64_t>(v));
  if (k == 0) out.push_back(tensor<int64_t>(std::vector<int64_t>{}));  // 0-d mask: unused
  return out;
}

Indexed apply_index(const Tensor& self, py::handle index) {
  py::tuple items = py::isinstance<py::tuple>(index) ? py::reinterpret_borrow<py::tuple>(index)
                                                      : py::make_tuple(index);
  // How many dims the indices consume (None adds none, a mask consumes its rank).
  int64_t consumed = 0;
  bool has_ellipsis = false;
  for (auto it : items) {
    if (it.is_none()) continue;
    if (it.ptr() == Py_Ellipsis) {
      if (has_ellipsis) throw py::index_error("an index can only have a single ellipsis ('...')");
      has_ellipsis = true;
      continue;
    }
    if (is_tensor(it)) {
      const Tensor& t = it.cast<const Tensor&>();
      consumed += t.dtype() == DType::Bool ? std::max<int64_t>(t.dim(), 1) : 1;
    } else {
      consumed += 1;
    }
  }
  if (consumed > self.dim())
    throw py::index_error("too many indices for tensor of dimension " + std::to_string(self.dim()) +
                          " (" + std::to_string(consumed) + " given)");

  Indexed r;
  r.view = self;
  int64_t dim = 0;
  bool adv_closed = false;  // an advanced index run ended; another would not be adjacent
  auto add_advanced = [&](Tensor idx, int64_t at) {
    if (r.adv_dim < 0) {
      r.adv_dim = at;
    } else if (adv_closed || at != r.adv_dim + static_cast<int64_t>(r.advanced.size())) {
      throw py::index_error(
          "tessera indexing: advanced (tensor/list) indices must be adjacent; "
          "separated ones are not supported");
    }
    r.advanced.push_back(std::move(idx));
  };
  for (auto it : items) {
    if (it.is_none()) {
      r.view = r.view.unsqueeze(dim);
      ++dim;
      if (r.adv_dim >= 0) adv_closed = true;
      continue;
    }
    if (it.ptr() == Py_Ellipsis) {
      dim += self.dim() - consumed;
      if (r.adv_dim >= 0) adv_closed = true;
      continue;
    }
    if (PyBool_Check(it.ptr())) throw py::index_error("tessera indexing: a bool index is not supported");
    if (py::isinstance<py::int_>(it) || (!is_advanced(it) && !py::isinstance<py::slice>(it) &&
                                         PyIndex_Check(it.ptr()))) {
      const int64_t size = r.view.size(dim);
      int64_t i = py::cast<int64_t>(py::reinterpret_borrow<py::object>(it).attr("__index__")());
      if (i < -size || i >= size)
        throw py::index_error("index " + std::to_string(i) + " is out of bounds for dimension " +
                              std::to_string(dim) + " with size " + std::to_string(size));
      r.view = r.view.select(dim, i < 0 ? i + size : i);
      if (r.adv_dim >= 0) adv_closed = true;
      continue;
    }
    if (py::isinstance<py::slice>(it)) {
      const int64_t size = r.view.size(dim);
      py::ssize_t start, stop, step, length;
      if (PySlice_GetIndicesEx(it.ptr(), size, &start, &stop, &step, &length) != 0)
        throw py::error_already_set();
      if (step <= 0) throw py::value_error("step must be greater than zero");
      r.view = r.view.slice(dim, start, std::max<int64_t>(start, stop), step);
      ++dim;
      if (r.adv_dim >= 0) adv_closed = true;
      continue;
    }
    if (is_advanced(it)) {
      Tensor idx = is_tensor(it) ? it.cast<Tensor>() : tensor_from_data(it, std::nullopt);
      if (idx.dtype() == DType::Bool) {
        const int64_t k = std::max<int64_t>(idx.dim(), 1);
        for (int64_t j = 0; j < idx.dim(); ++j)
          if (idx.size(j) != r.view.size(dim + j))
            throw py::index_error("the shape of the mask " + shape_str(idx.sizes()) + " at index " +
                                  std::to_string(j) + " does not match the shape of the indexed tensor " +
                                  shape_str(r.view.sizes()));
        auto parts = mask_to_indices(idx);
        for (int64_t j = 0; j < k; ++j) add_advanced(parts[static_cast<size_t>(j)], dim + j);
        dim += k;
        continue;
      }
      if (idx.is_floating_point())
        throw py::index_error("tensors used as indices must be long, int, byte or bool tensors, got " +
                              long_dtype_name(idx.dtype()));
      const int64_t size = r.view.size(dim);
      idx = idx.to(DType::Int64);
      // Negative indices count from the end, as in NumPy.
      idx = where(lt(idx, Scalar(int64_t{0})), add(idx, Scalar(size)), idx);
      if (idx.numel() > 0) {
        const int64_t lo = amin(idx).item<int64_t>(), hi = amax(idx).item<int64_t>();
        if (lo < 0 || hi >= size)
          throw py::index_error("index " + std::to_string(lo < 0 ? lo - size : hi) +
                                " is out of bounds for dimension " + std::to_string(dim) +
                                " with size " + std::to_string(size));
      }
      add_advanced(idx, dim);
      ++dim;
      continue;
    }
    throw py::type_error("tessera indexing: only integers, slices, None, Ellipsis, and long or bool "
                         "tensors (or lists / arrays of them) are valid indices, got " +
                         py::str(py::type::handle_of(it)).cast<std::string>());
  }
  return r;
}

// Moves dims [d, d + k) of x to the front.
Tensor move_to_front(const Tensor& x, int64_t d, int64_t k) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < k; ++i) perm.push_back(d + i);
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i < d || i >= d + k) perm.push_back(i);
  return x.permute(perm);
}

std::vector<Tensor> broadcast_indices(const std::vector<Tensor>& idx) {
  Shape shape;
  for (const Tensor& t : idx) {
    Shape s(t.sizes());
    const size_t n = std::max(shape.size(), s.size());
    Shape out(n, 1);
    for (size_t i = 0; i < n; ++i) {
      int64_t a = i + shape.size() >= n ? shape[i + shape.size() - n] : 1;
      int64_t b = i + s.size() >= n ? s[i + s.size() - n] : 1;
      if (a != b && a != 1 && b != 1)
        throw py::index_error("shape mismatch: indexing tensors could not be broadcast together with shapes " +
                              shape_str(shape) + " and " + shape_str(s));
      out[i] = a == 1 ? b : a;
    }
    shape = out;
  }
  std::vector<Tensor> out;
  for (const Tensor& t : idx) out.push_back(t.expand(shape));
  return out;
}

Tensor getitem(const Tensor& self, py::handle index) {
  Indexed r = apply_index(self, index);
  if (r.advanced.empty()) return r.view;
  std::vector<Tensor> idx = broadcast_indices(r.advanced);
  const int64_t k = static_cast<int64_t>(idx.size());
  py::gil_scoped_release release;
  Tensor front = move_to_front(r.view, r.adv_dim, k);
  // The k indexed dims as one: a linear index into their row-major flattening.
  Tensor linear = zeros(idx[0].sizes(), kInt64);
  int64_t mult = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    linear = add(linear, mul(idx[static_cast<size_t>(j)], Scalar(mult)));
    mult *= front.size(j);
  }
  Tensor flat = front.flatten(0, k - 1);
  Tensor picked = index_select(flat, 0, linear.flatten());
  Shape out_shape(idx[0].sizes());
  for (int64_t i = k; i < front.dim(); ++i) out_shape.push_back(front.size(i));
  picked = picked.reshape(out_shape);
  // Back to NumPy's order: the index dims where the indexed dims were.
  const int64_t ni = idx[0].dim();
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < r.adv_dim; ++i) perm.push_back(ni + i);
  for (int64_t i = 0; i < ni; ++i) perm.push_back(i);
  for (int64_t i = ni + r.adv_dim; i < picked.dim(); ++i) perm.push_back(i);
  return picked.permute(perm);
}

void setitem(Tensor& self, py::handle index, py::handle value) {
  Indexed r = apply_index(self, index);
  Tensor v = as_tensor_like(value, self);
  py::gil_scoped_release release;
  if (r.advanced.empty()) {
    r.view.copy_(v);
    return;
  }
  std::vector<Tensor> idx = broadcast_indices(r.advanced);
  const int64_t k = static_cast<int64_t>(idx.size());
  Tensor front = move_to_front(r.view, r.adv_dim, k);
  // Values in NumPy's order (pre dims, index dims, post dims) -> index dims first.
  const int64_t ni = idx[0].dim();
  Shape full;
  for (int64_t i = 0; i < r.adv_dim; ++i) full.push_back(r.view.size(i));
  for (int64_t s : idx[0].sizes()) full.push_back(s);
  for (int64_t i = r.adv_dim + k; i < r.view.dim(); ++i) full.push_back(r.view.size(i));
  Tensor vals = v.to(self.dtype()).expand(full);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < ni; ++i) perm.push_back(r.adv_dim + i);
  for (int64_t i = 0; i < r.adv_dim; ++i) perm.push_back(i);
  for (int64_t i = r.adv_dim + ni; i < vals.dim(); ++i) perm.push_back(i);
  vals = vals.permute(perm).contiguous();
  index_put_(front, idx, vals);
}

// ---------------------------------------------------------------- repr / tolist

std::string repr(const Tensor& t) {
  std::string s = t.to_string();
  // The C++ printer names non-default dtypes in their short form ("dtype=f64").
  const std::string key = std::string("dtype=") + dtype_name(t.dtype());
  auto pos = s.find(key);
  if (pos != std::string::npos) s.replace(pos, key.size(), "dtype=" + dtype_repr(t.dtype()));
  std::string extra;
  const std::string fn = t.grad_fn_name();
  if (!fn.empty()) extra = ", grad_fn=<" + fn + ">";
  else if (t.requires_grad()) extra = ", requires_grad=True";
  if (!extra.empty() && !s.empty() && s.back() == ')') s.insert(s.size() - 1, extra);
  return s;
}

py::object tolist_rec(const Tensor& t) {
  if (t.dim() == 0) {
    if (t.dtype() == DType::Bool) return py::bool_(t.item<bool>());
    if (is_floating(t.dtype())) return py::float_(t.item<double>());
    return py::int_(t.item<int64_t>());
  }
  py::list out;
  for (int64_t i = 0; i < t.size(0); ++i) out.append(tolist_rec(t.select(0, i)));
  return out;
}

py::object item(const Tensor& t) {
  if (t.numel() != 1)
    throw py::value_error("a Tensor with " + std::to_string(t.numel()) +
                          " elements cannot be converted to Scalar");
  if (t.dtype() == DType::Bool) return py::bool_(t.item<bool>());
  if (is_floating(t.dtype())) return py::float_(t.item<double>());
  return py::int_(t.item<int64_t>());
}

// view(*shape) / view(shape): both spellings, as PyTorch.
std::vector<int64_t> shape_args(const py::args& args) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) {
    py::detail::make_caster<IntArrayRef> c;
    if (!c.load(args[0], true))
      throw py::type_error("expected a shape (ints or one sequence of ints), got " +
                           py::str(py::type::handle_of(args[0])).cast<std::string>());
    IntArrayRef ref = py::detail::cast_op<IntArrayRef>(c);
    return ref.vec();
  }
  std::vector<int64_t> out;
  for (auto a : args) {
    if (PyBool_Check(a.ptr()) || !PyIndex_Check(a.ptr()))
      throw py::type_error("expected ints for a shape, got " +
                           py::str(py::type::handle_of(a)).cast<std::string>());
    out.push_back(py::cast<int64_t>(py::reinterpret_borrow<py::object>(a).attr("__index__")()));
  }
  return out;
}

DType parse_dtype_arg(py::handle h) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (is_tensor(h)) return h.cast<const Tensor&>().dtype();
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float32;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int64;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  try {
    return dtype_from_numpy(py::dtype::from_args(py::reinterpret_borrow<py::object>(h)));
  } catch (const py::error_already_set&) {
    throw py::type_error("expected a dtype (tessera.float32, ...), got " + py::repr(h).cast<std::string>());
  }
}

}  // namespace

std::string dtype_repr(DType dtype) { return "tessera." + long_dtype_name(dtype); }

void init_dtype(py::module_& m) {
  py::enum_<DType>(m, "dtype", "An element type: tessera.float32, tessera.int64, ...")
      .value("bool", DType::Bool)
      .value("uint8", DType::UInt8)
      .value("int8", DType::Int8)
      .value("int32", DType::Int32)
      .value("int64", DType::Int64)
      .value("float16", DType::Float16)
      .value("bfloat16", DType::BFloat16)
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .def("__repr__", [](DType d) { return dtype_repr(d); })
      .def("__str__", [](DType d) { return dtype_repr(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });
  m.def("promote_types", &promote_types, py::arg("type1"), py::arg("type2"));
  m.def("can_cast", &can_cast, py::arg("from_"), py::arg("to"));
}

std::optional<std::string> device_name(py::handle h) {
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::isinstance<PyDevice>(h)) return h.cast<const PyDevice&>().str();
  return std::nullopt;
}

void check_cpu_device(const std::string& device, const char* who) {
  if (device != "cpu" && device != "cpu:0")
    throw py::value_error(std::string(who) + ": Tessera runs on the CPU only; device '" + device +
                          "' is not available");
}

void init_tensor(py::module_& m) {
  py::class_<PyDevice>(m, "device", "torch.device: a device name; Tessera runs on 'cpu'")
      .def(py::init([](const std::string& spec, std::optional<int64_t> index) {
             // "cuda:1" or ("cuda", 1), as torch.device parses them.
             PyDevice d;
             const auto colon = spec.find(':');
             d.type = spec.substr(0, colon);
             if (d.type != "cpu" && d.type != "cuda" && d.type != "mps")
               throw py::value_error("device: expected 'cpu', 'cuda' or 'mps' (with an optional ':index'), got '" +
                                     spec + "'");
             if (colon != std::string::npos) {
               const std::string num = spec.substr(colon + 1);
               if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos || index)
                 throw py::value_error("device: bad device string '" + spec + "'");
               d.index = std::stoll(num);
             } else if (index) {
               if (*index < 0) throw py::value_error("device: index must be >= 0, got " + std::to_string(*index));
               d.index = *index;
             }
             return d;
           }),
           py::arg("type"), py::arg("index") = py::none())
      .def_readonly("type", &PyDevice::type)
      .def_property_readonly("index", [](const PyDevice& d) -> py::object {
        return d.index < 0 ? py::object(py::none()) : py::object(py::int_(d.index));
      })
      .def("__str__", &PyDevice::str)
      .def("__repr__", [](const PyDevice& d) {
        return "device(type='" + d.type + "'" + (d.index < 0 ? "" : ", index=" + std::to_string(d.index)) + ")";
      })
      .def("__eq__", [](const PyDevice& a, const PyDevice& b) { return a.type == b.type && a.index == b.index; })
      .def("__hash__", [](const PyDevice& d) { return std::hash<std::string>{}(d.str()); });

  py::class_<Tensor> cls(m, "Tensor", py::buffer_protocol(), R"doc(
A multi-dimensional array with autograd (torch.Tensor). Views (slicing, view, permute,
transpose, ...) share memory with the tensor they came from; so do from_numpy() and
.numpy().)doc");
  cls.attr("_tessera_tensor") = true;

  // Construction: Tensor(data) copies like tessera.tensor(); Tensor(other) aliases it.
  cls.def(py::init([](py::handle data) {
            if (is_tensor(data)) return data.cast<Tensor>().detach();
            return tensor_from_data(data, std::nullopt);
          }),
          py::arg("data"));

  cls.def_buffer([](Tensor& t) -> py::buffer_info {
    std::string fmt = numpy_dtype(t.dtype()).attr("char").cast<std::string>();
    std::vector<py::ssize_t> shape, strides;
    for (int64_t i = 0; i < t.dim(); ++i) {
      shape.push_back(t.size(i));
      strides.push_back(t.stride(i) * static_cast<py::ssize_t>(t.itemsize()));
    }
    return py::buffer_info(t.data_ptr(), static_cast<py::ssize_t>(t.itemsize()), fmt, t.dim(), shape,
                           strides);
  });

  // ---- metadata ----
  cls.def_property_readonly("shape", [](const Tensor& t) { return to_tuple(t.sizes()); })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", [](const Tensor&) { return "cpu"; })
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("itemsize", &Tensor::itemsize)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def_property_readonly("is_cpu", [](const Tensor&) { return true; })
      .def("size",
           [](const Tensor& t, std::optional<int64_t> dim) -> py::object {
             if (dim) return py::int_(t.size(*dim));
             return to_tuple(t.sizes());
           },
           py::arg("dim") = py::none())
      .def("stride",
           [](const Tensor& t, std::optional<int64_t> dim) -> py::object {
             if (dim) return py::int_(t.stride(*dim));
             return to_tuple(t.strides());
           },
           py::arg("dim") = py::none())
      .def("dim", &Tensor::dim)
      .def("ndimension", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("nelement", &Tensor::numel)
      .def("element_size", &Tensor::itemsize)
      .def("storage_offset", &Tensor::storage_offset)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", &Tensor::is_floating_point)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def("shares_storage", &Tensor::shares_storage, py::arg("other"),
           "Whether both tensors view the same memory.")
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw py::type_error("len() of a 0-d tensor");
        return t.size(0);
      });

  // ---- values ----
  cls.def("item", &item)
      .def("tolist", [](const Tensor& t) { return tolist_rec(t); })
      .def("numpy",
           [](const Tensor& t, bool force) -> py::array {
             if (t.requires_grad() && !force)
               throw py::value_error(
                   "Can't call numpy() on a Tensor that requires grad. Use tensor.detach().numpy() instead.");
             return to_numpy(force ? t.detach() : t);
           },
           py::arg("force") = false,
           "The tensor's memory as an ndarray (no copy); the array keeps it alive.")
      .def("__array__",
           [](const Tensor& t, py::object dtype, py::object copy) -> py::object {
             py::object arr = to_numpy(t.requires_grad() ? t.detach() : t);
             if (!dtype.is_none()) arr = arr.attr("astype")(dtype);
             return arr;
           },
           py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("__repr__", &repr)
      .def("__str__", &repr)
      .def("__bool__", [](const Tensor& t) {
        if (t.numel() != 1)
          throw py::value_error("Boolean value of Tensor with " + std::to_string(t.numel()) +
                                " elements is ambiguous");
        return t.item<double>() != 0;
      })
      .def("__float__", [](const Tensor& t) { return item(t).cast<double>(); })
      .def("__int__", [](const Tensor& t) {
        py::object v = item(t);
        return py::int_(v);
      })
      .def("__index__", [](const Tensor& t) {
        if (t.is_floating_point() || t.numel() != 1)
          throw py::type_error("only integer tensors of a single element can be converted to an index");
        return t.item<int64_t>();
      })
      .def("__iter__", [](py::object self) {
        const Tensor& t = self.cast<const Tensor&>();
        if (t.dim() == 0) throw py::type_error("iteration over a 0-d tensor");
        py::list items;
        for (int64_t i = 0; i < t.size(0); ++i) items.append(py::cast(t.select(0, i)));
        return py::iter(items);
      })
      .def("__getitem__", &getitem)
      .def("__setitem__", [](Tensor& t, py::handle idx, py::handle v) { setitem(t, idx, v); })
      .def("__copy__", [](const Tensor& t) { return t.detach(); })
      .def("__deepcopy__", [](const Tensor& t, py::handle) {
        Tensor c;
        {
          py::gil_scoped_release r;
          c = t.detach().clone();
        }
        if (t.requires_grad()) c.requires_grad_(true);
        return c;
      })
      .def(py::pickle(
          [](const Tensor& t) {
            py::array a = to_numpy(t.detach().contiguous());
            return py::make_tuple(a.attr("copy")(), t.requires_grad());
          },
          [](py::tuple s) {
            Tensor t = tensor_from_data(s[0], std::nullopt);
            if (s[1].cast<bool>()) t.requires_grad_(true);
            return t;
          }));

  // ---- copies, conversions ----
  cls.def("contiguous", &Tensor::contiguous, GilRelease())
      .def("clone", &Tensor::clone, GilRelease())
      .def("detach", &Tensor::detach)
      .def(
          "to",
          [](const Tensor& t, py::handle what, py::handle dtype, bool copy) {
            std::optional<DType> dt;
            if (!dtype.is_none()) dt = parse_dtype_arg(dtype);
            if (!what.is_none()) {
              if (auto dev = device_name(what)) {
                check_cpu_device(*dev, "to");
              } else {
                dt = parse_dtype_arg(what);
              }
            }
            py::gil_scoped_release r;
            Tensor out = dt ? t.to(*dt) : t;
            if (copy && out.is_same(t)) out = t.clone();
            return out;
          },
          py::arg("device_or_dtype") = py::none(), py::arg("dtype") = py::none(), py::arg("copy") = false)
      .def("cpu", [](const Tensor& t) { return t; })
      .def("float", [](const Tensor& t) { return t.to(kFloat32); }, GilRelease())
      .def("double", [](const Tensor& t) { return t.to(kFloat64); }, GilRelease())
      .def("half", [](const Tensor& t) { return t.to(kFloat16); }, GilRelease())
      .def("bfloat16", [](const Tensor& t) { return t.to(kBFloat16); }, GilRelease())
      .def("long", [](const Tensor& t) { return t.to(kInt64); }, GilRelease())
      .def("int", [](const Tensor& t) { return t.to(kInt32); }, GilRelease())
      .def("bool", [](const Tensor& t) { return t.to(kBool); }, GilRelease())
      .def("byte", [](const Tensor& t) { return t.to(kUInt8); }, GilRelease())
      .def("type_as", [](const Tensor& t, const Tensor& o) { return t.to(o.dtype()); }, GilRelease())
      .def("copy_", [](py::object self, const Tensor& src) {
        Tensor& t = self.cast<Tensor&>();
        {
          py::gil_scoped_release r;
          t.copy_(src);
        }
        return self;
      }, py::arg("src"))
      .def("fill_", [](py::object self, const Scalar& v) {
        Tensor& t = self.cast<Tensor&>();
        {
          py::gil_scoped_release r;
          t.fill_(v);
        }
        return self;
      }, py::arg("value"))
      .def("zero_", [](py::object self) {
        Tensor& t = self.cast<Tensor&>();
        {
          py::gil_scoped_release r;
          t.zero_();
        }
        return self;
      });

  // ---- views ----
  cls.def("view", [](const Tensor& t, py::args shape) {
        if (shape.size() == 1 && (py::isinstance<DType>(shape[0])))
          throw py::type_error("view(dtype) is not supported; use .to(dtype)");
        return t.view(shape_args(shape));
      })
      .def("reshape", [](const Tensor& t, py::args shape) {
        auto s = shape_args(shape);
        py::gil_scoped_release r;
        return t.reshape(s);
      })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return t.view(o.sizes()); })
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return t.reshape(o.sizes()); }, GilRelease())
      .def("permute", [](const Tensor& t, py::args dims) { return t.permute(shape_args(dims)); })
      .def("transpose", &Tensor::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("swapaxes", &Tensor::transpose, py::arg("axis0"), py::arg("axis1"))
      .def("t", &Tensor::t)
      .def_property_readonly("T", [](const Tensor& t) {
        std::vector<int64_t> perm;
        for (int64_t i = t.dim() - 1; i >= 0; --i) perm.push_back(i);
        return t.permute(perm);
      })
      .def_property_readonly("mT", [](const Tensor& t) { return t.transpose(-2, -1); })
      .def("narrow", &Tensor::narrow, py::arg("dim"), py::arg("start"), py::arg("length"))
      .def("select", &Tensor::select, py::arg("dim"), py::arg("index"))
      .def("expand", [](const Tensor& t, py::args sizes) { return t.expand(shape_args(sizes)); })
      .def("expand_as", &Tensor::expand_as, py::arg("other"))
      .def("squeeze",
           [](const Tensor& t, std::optional<int64_t> dim) { return dim ? t.squeeze(*dim) : t.squeeze(); },
           py::arg("dim") = py::none())
      .def("unsqueeze", &Tensor::unsqueeze, py::arg("dim"))
      .def("flatten", &Tensor::flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1, GilRelease())
      .def("unflatten", &Tensor::unflatten, py::arg("dim"), py::arg("sizes"))
      .def("diagonal", &Tensor::diagonal, py::arg("offset") = 0, py::arg("dim1") = 0, py::arg("dim2") = 1)
      .def("as_strided", &Tensor::as_strided, py::arg("size"), py::arg("stride"),
           py::arg("storage_offset") = -1)
      .def("unfold_view", &Tensor::slice, py::arg("dim"), py::arg("start"), py::arg("end"),
           py::arg("step") = 1, "slice(dim, start, end, step) as a view (Tensor::slice in C++).");

  // ---- autograd ----
  cls.def_property(
         "requires_grad", &Tensor::requires_grad,
         [](Tensor& t, bool on) { t.requires_grad_(on); })
      .def("requires_grad_", [](py::object self, bool on) {
        self.cast<Tensor&>().requires_grad_(on);
        return self;
      }, py::arg("requires_grad") = true)
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property(
          "grad",
          [](const Tensor& t) -> py::object {
            Tensor g = t.grad();
            if (!g.defined()) return py::none();
            return py::cast(g);
          },
          [](Tensor& t, py::object g) {
            if (g.is_none()) t.set_grad(Tensor());
            else t.set_grad(g.cast<Tensor>());
          })
      .def_property_readonly("grad_fn", [](const Tensor& t) -> py::object {
        std::string n = t.grad_fn_name();
        if (n.empty()) return py::none();
        return py::str(n);
      })
      .def_property_readonly("data", &Tensor::detach)
      .def(
          "backward",
          [](const Tensor& t, std::optional<Tensor> gradient, std::optional<bool> retain_graph,
             bool create_graph) {
            py::gil_scoped_release r;
            t.backward(gradient ? *gradient : Tensor(), retain_graph.value_or(create_graph),
                       create_graph);
          },
          py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(),
          py::arg("create_graph") = false)
      .def("retain_grad", &Tensor::retain_grad)
      .def("register_hook", [](const Tensor& t, py::function hook) {
        // The hook runs on the backward thread with the GIL taken for the call only.
        auto holder = std::make_shared<py::object>(hook);
        t.register_hook([holder](const Tensor& g) -> Tensor {
          py::gil_scoped_acquire gil;
          py::object r = (*holder)(g);
          if (r.is_none()) return Tensor();
          return r.cast<Tensor>();
        });
      }, py::arg("hook"));

  // ---- operators ----
  cls.def("__add__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return add(x, y); },
                      [](const Tensor& x, const Scalar& y) { return add(x, y); });
      })
      .def("__radd__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return add(y, x); },
                      [](const Tensor& x, const Scalar& y) { return add(x, y); });
      })
      .def("__sub__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return sub(x, y); },
                      [](const Tensor& x, const Scalar& y) { return sub(x, y); });
      })
      .def("__rsub__", [](const Tensor& a, py::handle b) {
        return rbinary(a, b, [](const Tensor& x, const Tensor& y) { return sub(x, y); });
      })
      .def("__mul__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return mul(x, y); },
                      [](const Tensor& x, const Scalar& y) { return mul(x, y); });
      })
      .def("__rmul__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return mul(y, x); },
                      [](const Tensor& x, const Scalar& y) { return mul(x, y); });
      })
      .def("__truediv__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return div(x, y); },
                      [](const Tensor& x, const Scalar& y) { return div(x, y); });
      })
      .def("__rtruediv__", [](const Tensor& a, py::handle b) {
        return rbinary(a, b, [](const Tensor& x, const Tensor& y) { return div(x, y); });
      })
      .def("__floordiv__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return floor_divide(x, y); },
                      [](const Tensor& x, const Scalar& y) { return floor_divide(x, y); });
      })
      .def("__rfloordiv__", [](const Tensor& a, py::handle b) {
        return rbinary(a, b, [](const Tensor& x, const Tensor& y) { return floor_divide(x, y); });
      })
      .def("__mod__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return remainder(x, y); },
                      [](const Tensor& x, const Scalar& y) { return remainder(x, y); });
      })
      .def("__rmod__", [](const Tensor& a, py::handle b) {
        return rbinary(a, b, [](const Tensor& x, const Tensor& y) { return remainder(x, y); });
      })
      .def("__pow__", [](const Tensor& a, py::handle b) {
        return binary(a, b, [](const Tensor& x, const Tensor& y) { return pow(x, y); },
                      [](const Tensor& x, const Scalar& y) { return pow(x, y); });
      })
      .def("__rpow__", [](const Tensor& a, py::handle b) {
        py::detail::make_caster<Scalar> c;
        if (!c.load(b, true)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
        Scalar s = py::detail::cast_op<Scalar>(c);
        Tensor out;
        {
          py::gil_scoped_release r;
          out = pow(s, a);
        }
        return py::cast(std::move(out));
      })
      .def("__matmul__", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, GilRelease())
      .def("__neg__", [](const Tensor& a) { return neg(a); }, GilRelease())
      .def("__pos__", [](const Tensor& a) { return a; })
      .def("__abs__", [](const Tensor& a) { return abs(a); }, GilRelease())
      .def("__invert__", [](const Tensor& a) {
        if (a.dtype() != DType::Bool) throw py::type_error("~ (bitwise not) is supported on bool tensors only");
        return logical_not(a);
      })
      .def("__and__", [](const Tensor& a, const Tensor& b) { return logical_and(a, b); }, GilRelease())
      .def("__or__", [](const Tensor& a, const Tensor& b) { return logical_or(a, b); }, GilRelease())
      .def("__xor__", [](const Tensor& a, const Tensor& b) { return logical_xor(a, b); }, GilRelease());

#define TESSERA_CMP(PYNAME, FN)                                                               \
  cls.def(PYNAME, [](const Tensor& a, py::handle b) {                                         \
    return binary(a, b, [](const Tensor& x, const Tensor& y) { return FN(x, y); },            \
                  [](const Tensor& x, const Scalar& y) { return FN(x, y); });                 \
  });
  TESSERA_CMP("__eq__", eq)
  TESSERA_CMP("__ne__", ne)
  TESSERA_CMP("__lt__", lt)
  TESSERA_CMP("__le__", le)
  TESSERA_CMP("__gt__", gt)
  TESSERA_CMP("__ge__", ge)
#undef TESSERA_CMP
  // __eq__ made the class unhashable; tensors hash by identity, as PyTorch's.
  cls.attr("__hash__") = py::cpp_function(
      [](py::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); }, py::is_method(cls));

  // In-place operators return the same Python object.
#define TESSERA_IOP(PYNAME, FN_T, FN_S)                                                         \
  cls.def(PYNAME, [](py::object self, py::handle b) -> py::object {                            \
    Tensor& t = self.cast<Tensor&>();                                                          \
    if (is_tensor(b)) {                                                                        \
      Tensor bt = b.cast<Tensor>();                                                            \
      py::gil_scoped_release r;                                                                \
      FN_T;                                                                                    \
    } else {                                                                                   \
      py::detail::make_caster<Scalar> c;                                                       \
      if (!c.load(b, true)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);      \
      Scalar s = py::detail::cast_op<Scalar>(c);                                               \
      py::gil_scoped_release r;                                                                \
      FN_S;                                                                                    \
    }                                                                                          \
    return self;                                                                               \
  });
  TESSERA_IOP("__iadd__", t.add_(bt), t.add_(s))
  TESSERA_IOP("__isub__", t.sub_(bt), t.sub_(s))
  TESSERA_IOP("__imul__", t.mul_(bt), t.mul_(s))
  TESSERA_IOP("__itruediv__", t.div_(bt), t.div_(s))
  TESSERA_IOP("add_", t.add_(bt), t.add_(s))
  TESSERA_IOP("sub_", t.sub_(bt), t.sub_(s))
  TESSERA_IOP("mul_", t.mul_(bt), t.mul_(s))
  TESSERA_IOP("div_", t.div_(bt), t.div_(s))
#undef TESSERA_IOP
}

}  // namespace tessera::python
