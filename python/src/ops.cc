// The op API (tessera/ops.h) as module functions and, where PyTorch has them, as Tensor
// methods too. Every binding releases the GIL while the op runs.
#include "common.h"

namespace tessera::python {
namespace {

// dim=None / an int / a sequence of ints -> dims (empty: all).
std::vector<int64_t> dims_of(py::handle h) {
  if (h.is_none()) return {};
  py::detail::make_caster<IntArrayRef> c;
  if (!c.load(h, true))
    throw py::type_error("dim: expected None, an int or a sequence of ints, got " +
                         py::str(py::type::handle_of(h)).cast<std::string>());
  return py::detail::cast_op<IntArrayRef>(c).vec();
}

Scalar scalar_of(py::handle h, const char* what) {
  py::detail::make_caster<Scalar> c;
  if (!c.load(h, true))
    throw py::type_error(std::string(what) + ": expected a number, got " +
                         py::str(py::type::handle_of(h)).cast<std::string>());
  return py::detail::cast_op<Scalar>(c);
}

py::object values_indices(std::pair<Tensor, Tensor> p) {
  static py::object cls = py::module_::import("collections")
                              .attr("namedtuple")("return_types", py::make_tuple("values", "indices"));
  return cls(py::cast(std::move(p.first)), py::cast(std::move(p.second)));
}

// Binds `f` as tessera.<name>(input, ...) and as Tensor.<name>(...).
template <typename F, typename... Extra>
void both(py::module_& m, py::class_<Tensor>& cls, const char* name, F f, const Extra&... extra) {
  m.def(name, f, py::arg("input"), extra..., GilRelease());
  cls.def(name, f, extra..., GilRelease());
}

// A binary op whose right side is a Tensor or a number.
template <typename TT, typename TS>
void binary(py::module_& m, py::class_<Tensor>& cls, const char* name, TT tt, TS ts) {
  auto f = [tt, ts](const Tensor& a, py::handle b) -> Tensor {
    if (py::isinstance<Tensor>(b)) {
      Tensor bt = b.cast<Tensor>();
      py::gil_scoped_release r;
      return tt(a, bt);
    }
    Scalar s = scalar_of(b, "other");
    py::gil_scoped_release r;
    return ts(a, s);
  };
  m.def(name, f, py::arg("input"), py::arg("other"));
  cls.def(name, f, py::arg("other"));
}

}  // namespace

void init_ops(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));

  // ---- factories (tessera/__init__.py adds the *size spellings) ----
  m.def("_empty", [](IntArrayRef s, DType d) { return empty(s, d); }, GilRelease());
  m.def("_zeros", [](IntArrayRef s, DType d) { return zeros(s, d); }, GilRelease());
  m.def("_ones", [](IntArrayRef s, DType d) { return ones(s, d); }, GilRelease());
  m.def("_full", [](IntArrayRef s, const Scalar& v, DType d) { return full(s, v, d); }, GilRelease());
  m.def("_rand", [](IntArrayRef s, DType d, Generator* g) { return rand(s, d, g); }, GilRelease());
  m.def("_randn", [](IntArrayRef s, DType d, Generator* g) { return randn(s, d, g); }, GilRelease());
  m.def("_randint", [](int64_t lo, int64_t hi, IntArrayRef s, DType d, Generator* g) {
    return randint(lo, hi, s, d, g);
  }, GilRelease());
  m.def("_normal", [](double mean, double std, IntArrayRef s, DType d, Generator* g) {
    return normal(mean, std, s, d, g);
  }, GilRelease());
  m.def("randperm", [](int64_t n, DType d, Generator* g) { return randperm(n, d, g); }, py::arg("n"),
        py::kw_only(), py::arg("dtype") = kInt64, py::arg("generator") = nullptr, GilRelease());
  m.def("_arange", [](const Scalar& start, const Scalar& end, const Scalar& step, std::optional<DType> d) {
    if (d) return arange(start, end, step, TensorOptions(*d));
    return arange(start, end, step);
  }, GilRelease());
  m.def("linspace", [](double start, double end, int64_t steps, DType d) {
    return linspace(start, end, steps, d);
  }, py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = kFloat32,
        GilRelease());
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, DType d) { return eye(n, mm.value_or(-1), d); },
        py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = kFloat32, GilRelease());
  m.def("empty_like", [](const Tensor& t) { return empty_like(t); }, py::arg("input"), GilRelease());
  m.def("zeros_like", [](const Tensor& t) { return zeros_like(t); }, py::arg("input"), GilRelease());
  m.def("ones_like", [](const Tensor& t) { return ones_like(t); }, py::arg("input"), GilRelease());
  m.def("full_like", [](const Tensor& t, const Scalar& v) { return full_like(t, v); }, py::arg("input"), py::arg("fill_value"), GilRelease());
  m.def("rand_like", [](const Tensor& t, Generator* g) { return rand_like(t, g); }, py::arg("input"), py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  m.def("randn_like", [](const Tensor& t, Generator* g) { return randn_like(t, g); }, py::arg("input"), py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  m.def("bernoulli", [](const Tensor& p, Generator* g) { return bernoulli(p, g); }, py::arg("input"),
        py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  m.def("from_numpy", &from_numpy, py::arg("ndarray"),
        "A tensor over the array's memory (no copy); the array lives while the tensor does.");
  m.def("_tensor", &tensor_from_data, py::arg("data"), py::arg("dtype") = py::none());

  // ---- elementwise, unary ----
#define TESSERA_UNARY(NAME) both(m, cls, #NAME, [](const Tensor& x) { return NAME(x); });
  TESSERA_UNARY(neg) TESSERA_UNARY(abs) TESSERA_UNARY(sign) TESSERA_UNARY(exp) TESSERA_UNARY(expm1)
  TESSERA_UNARY(log) TESSERA_UNARY(log1p) TESSERA_UNARY(log2) TESSERA_UNARY(sqrt) TESSERA_UNARY(rsqrt)
  TESSERA_UNARY(sin) TESSERA_UNARY(cos) TESSERA_UNARY(tan) TESSERA_UNARY(tanh) TESSERA_UNARY(sigmoid)
  TESSERA_UNARY(erf) TESSERA_UNARY(relu) TESSERA_UNARY(silu) TESSERA_UNARY(square)
  TESSERA_UNARY(reciprocal) TESSERA_UNARY(floor) TESSERA_UNARY(ceil) TESSERA_UNARY(round)
  TESSERA_UNARY(logical_not) TESSERA_UNARY(isnan) TESSERA_UNARY(isinf) TESSERA_UNARY(isfinite)
#undef TESSERA_UNARY
  both(m, cls, "negative", [](const Tensor& x) { return neg(x); });
  both(m, cls, "gelu", [](const Tensor& x, const std::string& a) { return gelu(x, a); },
       py::arg("approximate") = "none");
  both(m, cls, "softplus", [](const Tensor& x, double b, double t) { return softplus(x, b, t); },
       py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  both(m, cls, "nan_to_num",
       [](const Tensor& x, double nan, std::optional<double> p, std::optional<double> n) {
         return nan_to_num(x, nan, p, n);
       },
       py::arg("nan") = 0.0, py::arg("posinf") = py::none(), py::arg("neginf") = py::none());
  auto clamp_fn = [](const Tensor& x, py::handle lo, py::handle hi) -> Tensor {
    if (py::isinstance<Tensor>(lo) || py::isinstance<Tensor>(hi)) {
      if (!py::isinstance<Tensor>(lo) || !py::isinstance<Tensor>(hi))
        throw py::type_error("clamp: min and max must both be tensors or both be numbers/None");
      Tensor a = lo.cast<Tensor>(), b = hi.cast<Tensor>();
      py::gil_scoped_release r;
      return clamp(x, a, b);
    }
    std::optional<Scalar> a, b;
    if (!lo.is_none()) a = scalar_of(lo, "clamp min");
    if (!hi.is_none()) b = scalar_of(hi, "clamp max");
    py::gil_scoped_release r;
    return clamp(x, a, b);
  };
  for (const char* name : {"clamp", "clip"}) {
    m.def(name, clamp_fn, py::arg("input"), py::arg("min") = py::none(), py::arg("max") = py::none());
    cls.def(name, clamp_fn, py::arg("min") = py::none(), py::arg("max") = py::none());
  }

  // ---- elementwise, binary ----
#define TESSERA_BINARY(NAME)                                                                  \
  binary(m, cls, #NAME, [](const Tensor& a, const Tensor& b) { return NAME(a, b); },          \
         [](const Tensor& a, const Scalar& b) { return NAME(a, b); });
  TESSERA_BINARY(add) TESSERA_BINARY(sub) TESSERA_BINARY(mul) TESSERA_BINARY(div)
  TESSERA_BINARY(floor_divide) TESSERA_BINARY(remainder) TESSERA_BINARY(pow) TESSERA_BINARY(eq)
  TESSERA_BINARY(ne) TESSERA_BINARY(lt) TESSERA_BINARY(le) TESSERA_BINARY(gt) TESSERA_BINARY(ge)
#undef TESSERA_BINARY
  binary(m, cls, "subtract", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
         [](const Tensor& a, const Scalar& b) { return sub(a, b); });
  binary(m, cls, "multiply", [](const Tensor& a, const Tensor& b) { return mul(a, b); },
         [](const Tensor& a, const Scalar& b) { return mul(a, b); });
  binary(m, cls, "divide", [](const Tensor& a, const Tensor& b) { return div(a, b); },
         [](const Tensor& a, const Scalar& b) { return div(a, b); });
#define TESSERA_BINARY_TT(NAME) \
  both(m, cls, #NAME, [](const Tensor& a, const Tensor& b) { return NAME(a, b); }, py::arg("other"));
  TESSERA_BINARY_TT(maximum) TESSERA_BINARY_TT(minimum) TESSERA_BINARY_TT(atan2)
  TESSERA_BINARY_TT(logical_and) TESSERA_BINARY_TT(logical_or) TESSERA_BINARY_TT(logical_xor)
  TESSERA_BINARY_TT(matmul) TESSERA_BINARY_TT(mm) TESSERA_BINARY_TT(bmm) TESSERA_BINARY_TT(outer)
  TESSERA_BINARY_TT(dot)
#undef TESSERA_BINARY_TT
  m.def("addmm", [](const Tensor& in, const Tensor& a, const Tensor& b, const Scalar& beta,
                    const Scalar& alpha) { return addmm(in, a, b, beta, alpha); },
        py::arg("input"), py::arg("mat1"), py::arg("mat2"), py::kw_only(), py::arg("beta") = 1,
        py::arg("alpha") = 1, GilRelease());
  auto where_fn = [](const Tensor& c, const Tensor& a, py::handle b) -> Tensor {
    if (py::isinstance<Tensor>(b)) {
      Tensor bt = b.cast<Tensor>();
      py::gil_scoped_release r;
      return where(c, a, bt);
    }
    Scalar s = scalar_of(b, "where other");
    py::gil_scoped_release r;
    return where(c, a, s);
  };
  m.def("where", where_fn, py::arg("condition"), py::arg("input"), py::arg("other"));
  cls.def("where", [where_fn](const Tensor& self, const Tensor& c, py::handle b) { return where_fn(c, self, b); },
          py::arg("condition"), py::arg("other"));
  both(m, cls, "allclose",
       [](const Tensor& a, const Tensor& b, double rtol, double atol, bool nan) {
         return allclose(a, b, rtol, atol, nan);
       },
       py::arg("other"), py::arg("rtol") = 1e-5, py::arg("atol") = 1e-8, py::arg("equal_nan") = false);
  both(m, cls, "equal", [](const Tensor& a, const Tensor& b) { return equal(a, b); }, py::arg("other"));

  // ---- in place (return the same Python object) ----
#define TESSERA_INPLACE(NAME, CALL)                                \
  cls.def(NAME, [](py::object self) {                              \
    Tensor& x = self.cast<Tensor&>();                              \
    {                                                              \
      py::gil_scoped_release r;                                    \
      CALL;                                                        \
    }                                                              \
    return self;                                                   \
  });
  TESSERA_INPLACE("neg_", neg_(x)) TESSERA_INPLACE("abs_", abs_(x)) TESSERA_INPLACE("exp_", exp_(x))
  TESSERA_INPLACE("log_", log_(x)) TESSERA_INPLACE("sqrt_", sqrt_(x)) TESSERA_INPLACE("relu_", relu_(x))
  TESSERA_INPLACE("sigmoid_", sigmoid_(x)) TESSERA_INPLACE("tanh_", tanh_(x))
#undef TESSERA_INPLACE
  cls.def("pow_", [](py::object self, const Scalar& e) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      pow_(x, e);
    }
    return self;
  }, py::arg("exponent"));
  cls.def("clamp_", [](py::object self, std::optional<Scalar> lo, std::optional<Scalar> hi) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      clamp_(x, lo, hi);
    }
    return self;
  }, py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("masked_fill_", [](py::object self, const Tensor& mask, const Scalar& v) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      masked_fill_(x, mask, v);
    }
    return self;
  }, py::arg("mask"), py::arg("value"));
  cls.def("uniform_", [](py::object self, double lo, double hi, Generator* g) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      uniform_(x, lo, hi, g);
    }
    return self;
  }, py::arg("from_") = 0.0, py::arg("to") = 1.0, py::kw_only(), py::arg("generator") = nullptr);
  cls.def("normal_", [](py::object self, double mean, double std, Generator* g) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      normal_(x, mean, std, g);
    }
    return self;
  }, py::arg("mean") = 0.0, py::arg("std") = 1.0, py::kw_only(), py::arg("generator") = nullptr);

  // ---- reductions ----
  auto reduce_kd = [&](const char* name, Tensor (*fn)(const Tensor&, IntArrayRef, bool)) {
    auto f = [fn](const Tensor& x, py::handle dim, bool keepdim) {
      auto dims = dims_of(dim);
      py::gil_scoped_release r;
      return fn(x, dims, keepdim);
    };
    m.def(name, f, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
    cls.def(name, f, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  };
  reduce_kd("mean", [](const Tensor& x, IntArrayRef d, bool k) { return mean(x, d, k); });
  reduce_kd("prod", [](const Tensor& x, IntArrayRef d, bool k) { return prod(x, d, k); });
  reduce_kd("amax", [](const Tensor& x, IntArrayRef d, bool k) { return amax(x, d, k); });
  reduce_kd("amin", [](const Tensor& x, IntArrayRef d, bool k) { return amin(x, d, k); });
  reduce_kd("all", [](const Tensor& x, IntArrayRef d, bool k) { return all(x, d, k); });
  reduce_kd("any", [](const Tensor& x, IntArrayRef d, bool k) { return any(x, d, k); });
  reduce_kd("logsumexp", [](const Tensor& x, IntArrayRef d, bool k) { return logsumexp(x, d, k); });
  auto sum_fn = [](const Tensor& x, py::handle dim, bool keepdim, std::optional<DType> dtype) {
    auto dims = dims_of(dim);
    py::gil_scoped_release r;
    return sum(x, dims, keepdim, dtype);
  };
  m.def("sum", sum_fn, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false,
        py::kw_only(), py::arg("dtype") = py::none());
  cls.def("sum", sum_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
          py::arg("dtype") = py::none());
  auto var_like = [&](const char* name, bool is_std) {
    auto f = [is_std](const Tensor& x, py::handle dim, std::optional<bool> unbiased, bool keepdim,
                      std::optional<int64_t> correction) {
      auto dims = dims_of(dim);
      int64_t c = correction.value_or(unbiased.value_or(true) ? 1 : 0);
      py::gil_scoped_release r;
      return is_std ? tessera::std(x, dims, c, keepdim) : var(x, dims, c, keepdim);
    };
    m.def(name, f, py::arg("input"), py::arg("dim") = py::none(), py::arg("unbiased") = py::none(),
          py::arg("keepdim") = false, py::kw_only(), py::arg("correction") = py::none());
    cls.def(name, f, py::arg("dim") = py::none(), py::arg("unbiased") = py::none(),
            py::arg("keepdim") = false, py::kw_only(), py::arg("correction") = py::none());
  };
  var_like("var", false);
  var_like("std", true);
  auto norm_fn = [](const Tensor& x, double p, py::handle dim, bool keepdim) {
    auto dims = dims_of(dim);
    py::gil_scoped_release r;
    return norm(x, p, dims, keepdim);
  };
  m.def("norm", norm_fn, py::arg("input"), py::arg("p") = 2.0, py::arg("dim") = py::none(),
        py::arg("keepdim") = false);
  cls.def("norm", norm_fn, py::arg("p") = 2.0, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  for (bool is_max : {true, false}) {
    auto f = [is_max](const Tensor& x, py::handle dim, bool keepdim) -> py::object {
      if (dim.is_none()) {
        Tensor out;
        {
          py::gil_scoped_release r;
          out = is_max ? max(x) : min(x);
        }
        return py::cast(out);
      }
      if (py::isinstance<Tensor>(dim)) {  // max(a, b): the elementwise form
        Tensor b = dim.cast<Tensor>();
        py::gil_scoped_release r;
        Tensor out = is_max ? maximum(x, b) : minimum(x, b);
        py::gil_scoped_acquire g;
        return py::cast(out);
      }
      const int64_t d = dim.cast<int64_t>();
      std::pair<Tensor, Tensor> p;
      {
        py::gil_scoped_release r;
        p = is_max ? max(x, d, keepdim) : min(x, d, keepdim);
      }
      return values_indices(std::move(p));
    };
    const char* name = is_max ? "max" : "min";
    m.def(name, f, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
    cls.def(name, f, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  }
  both(m, cls, "argmax", [](const Tensor& x, std::optional<int64_t> d, bool k) { return argmax(x, d, k); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(m, cls, "argmin", [](const Tensor& x, std::optional<int64_t> d, bool k) { return argmin(x, d, k); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(m, cls, "cumsum", [](const Tensor& x, int64_t d) { return cumsum(x, d); }, py::arg("dim"));
  both(m, cls, "softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }, py::arg("dim"));
  both(m, cls, "log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); }, py::arg("dim"));

  // ---- shape and indexing ----
  m.def("cat", [](const std::vector<Tensor>& ts, int64_t d) { return cat(ts, d); }, py::arg("tensors"),
        py::arg("dim") = 0, GilRelease());
  m.def("concat", [](const std::vector<Tensor>& ts, int64_t d) { return cat(ts, d); }, py::arg("tensors"),
        py::arg("dim") = 0, GilRelease());
  m.def("stack", [](const std::vector<Tensor>& ts, int64_t d) { return stack(ts, d); }, py::arg("tensors"),
        py::arg("dim") = 0, GilRelease());
  auto split_fn = [](const Tensor& x, py::handle size, int64_t dim) {
    if (py::isinstance<py::int_>(size)) {
      int64_t s = size.cast<int64_t>();
      py::gil_scoped_release r;
      return split(x, s, dim);
    }
    auto sizes = dims_of(size);
    py::gil_scoped_release r;
    return split(x, IntArrayRef(sizes), dim);
  };
  m.def("split", split_fn, py::arg("tensor"), py::arg("split_size_or_sections"), py::arg("dim") = 0);
  cls.def("split", split_fn, py::arg("split_size"), py::arg("dim") = 0);
  both(m, cls, "chunk", [](const Tensor& x, int64_t c, int64_t d) { return chunk(x, c, d); },
       py::arg("chunks"), py::arg("dim") = 0);
  cls.def("repeat", [](const Tensor& x, py::args reps) {
    std::vector<int64_t> r;
    if (reps.size() == 1 && !py::isinstance<py::int_>(reps[0])) r = dims_of(reps[0]);
    else for (auto a : reps) r.push_back(a.cast<int64_t>());
    py::gil_scoped_release g;
    return repeat(x, r);
  });
  both(m, cls, "tile", [](const Tensor& x, IntArrayRef r) { return tile(x, r); }, py::arg("dims"));
  both(m, cls, "flip", [](const Tensor& x, IntArrayRef d) { return flip(x, d); }, py::arg("dims"));
  auto roll_fn = [](const Tensor& x, py::handle shifts, py::handle dims) {
    auto s = dims_of(shifts);
    auto d = dims_of(dims);
    py::gil_scoped_release r;
    return roll(x, s, d);
  };
  m.def("roll", roll_fn, py::arg("input"), py::arg("shifts"), py::arg("dims") = py::none());
  cls.def("roll", roll_fn, py::arg("shifts"), py::arg("dims") = py::none());
  both(m, cls, "tril", [](const Tensor& x, int64_t d) { return tril(x, d); }, py::arg("diagonal") = 0);
  both(m, cls, "triu", [](const Tensor& x, int64_t d) { return triu(x, d); }, py::arg("diagonal") = 0);
  both(m, cls, "gather", [](const Tensor& x, int64_t d, const Tensor& i) { return gather(x, d, i); },
       py::arg("dim"), py::arg("index"));
  auto scatter_fn = [](const Tensor& x, int64_t d, const Tensor& i, py::handle src) -> Tensor {
    if (py::isinstance<Tensor>(src)) {
      Tensor s = src.cast<Tensor>();
      py::gil_scoped_release r;
      return scatter(x, d, i, s);
    }
    Scalar v = scalar_of(src, "scatter value");
    py::gil_scoped_release r;
    return scatter(x, d, i, v);
  };
  m.def("scatter", scatter_fn, py::arg("input"), py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter", scatter_fn, py::arg("dim"), py::arg("index"), py::arg("src"));
  both(m, cls, "scatter_add",
       [](const Tensor& x, int64_t d, const Tensor& i, const Tensor& s) { return scatter_add(x, d, i, s); },
       py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter_", [](py::object self, int64_t d, const Tensor& i, const Tensor& s) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      scatter_(x, d, i, s);
    }
    return self;
  }, py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter_add_", [](py::object self, int64_t d, const Tensor& i, const Tensor& s) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      scatter_add_(x, d, i, s);
    }
    return self;
  }, py::arg("dim"), py::arg("index"), py::arg("src"));
  both(m, cls, "index_select", [](const Tensor& x, int64_t d, const Tensor& i) { return index_select(x, d, i); },
       py::arg("dim"), py::arg("index"));
  both(m, cls, "masked_fill", [](const Tensor& x, const Tensor& mk, const Scalar& v) { return masked_fill(x, mk, v); },
       py::arg("mask"), py::arg("value"));
  both(m, cls, "index_put",
       [](const Tensor& x, const std::vector<Tensor>& i, const Tensor& v, bool acc) { return index_put(x, i, v, acc); },
       py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
  cls.def("index_put_", [](py::object self, const std::vector<Tensor>& i, const Tensor& v, bool acc) {
    Tensor& x = self.cast<Tensor&>();
    {
      py::gil_scoped_release r;
      index_put_(x, i, v, acc);
    }
    return self;
  }, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
  auto sort_fn = [](const Tensor& x, int64_t d, bool desc) {
    std::pair<Tensor, Tensor> p;
    {
      py::gil_scoped_release r;
      p = sort(x, d, desc);
    }
    return values_indices(std::move(p));
  };
  m.def("sort", sort_fn, py::arg("input"), py::arg("dim") = -1, py::arg("descending") = false);
  cls.def("sort", sort_fn, py::arg("dim") = -1, py::arg("descending") = false);
  both(m, cls, "argsort", [](const Tensor& x, int64_t d, bool desc) { return sort(x, d, desc).second; },
       py::arg("dim") = -1, py::arg("descending") = false);
  auto topk_fn = [](const Tensor& x, int64_t k, int64_t d, bool largest, bool sorted) {
    std::pair<Tensor, Tensor> p;
    {
      py::gil_scoped_release r;
      p = topk(x, k, d, largest, sorted);
    }
    return values_indices(std::move(p));
  };
  m.def("topk", topk_fn, py::arg("input"), py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true,
        py::arg("sorted") = true);
  cls.def("topk", topk_fn, py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true,
          py::arg("sorted") = true);

  // ---- views as functions ----
  m.def("reshape", [](const Tensor& x, IntArrayRef s) { return x.reshape(s); }, py::arg("input"),
        py::arg("shape"), GilRelease());
  m.def("flatten", [](const Tensor& x, int64_t s, int64_t e) { return x.flatten(s, e); }, py::arg("input"),
        py::arg("start_dim") = 0, py::arg("end_dim") = -1, GilRelease());
  m.def("transpose", [](const Tensor& x, int64_t a, int64_t b) { return x.transpose(a, b); },
        py::arg("input"), py::arg("dim0"), py::arg("dim1"));
  m.def("permute", [](const Tensor& x, IntArrayRef d) { return x.permute(d); }, py::arg("input"), py::arg("dims"));
  m.def("squeeze", [](const Tensor& x, std::optional<int64_t> d) { return d ? x.squeeze(*d) : x.squeeze(); },
        py::arg("input"), py::arg("dim") = py::none());
  m.def("unsqueeze", [](const Tensor& x, int64_t d) { return x.unsqueeze(d); }, py::arg("input"), py::arg("dim"));
  m.def("narrow", [](const Tensor& x, int64_t d, int64_t s, int64_t l) { return x.narrow(d, s, l); },
        py::arg("input"), py::arg("dim"), py::arg("start"), py::arg("length"));
  m.def("t", [](const Tensor& x) { return x.t(); }, py::arg("input"));
  m.def("diagonal", [](const Tensor& x, int64_t o, int64_t a, int64_t b) { return x.diagonal(o, a, b); },
        py::arg("input"), py::arg("offset") = 0, py::arg("dim1") = 0, py::arg("dim2") = 1);
  m.def("clone", [](const Tensor& x) { return x.clone(); }, py::arg("input"), GilRelease());
  m.def("detach", [](const Tensor& x) { return x.detach(); }, py::arg("input"));
  m.def("numel", [](const Tensor& x) { return x.numel(); }, py::arg("input"));
  m.def("is_tensor", [](py::handle h) { return py::isinstance<Tensor>(h); }, py::arg("obj"));
}

}  // namespace tessera::python
