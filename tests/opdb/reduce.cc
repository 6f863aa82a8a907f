// opdb entries of the reduction family (src/ops/reduce.cc).
#include <cmath>

#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;
constexpr std::initializer_list<DType> kFloats{kFloat32, kFloat64};

Attrs dims(Ints d, bool keepdim = false) { return {{"dims", std::move(d)}, {"keepdim", keepdim}}; }

// Samples of a reduction over "dims" (empty: every dim): one dim, several with keepdim, a
// negative dim, all dims, non-contiguous, 0-d, empty, and a large one (60,000 elements
// into one, where the blocked and threaded paths run). `single` keeps to one dim per
// call (ops whose PyTorch twin takes a single dim).
std::vector<Sample> reduce_samples(Maker& m, bool single = false, Attrs extra = {}) {
  auto with = [&](Attrs a) {
    for (const ops::Attr& x : extra.items()) a.add(x);
    return a;
  };
  std::vector<Sample> s;
  s.push_back({"dim", {m({3, 4, 5})}, with(dims({1}))});
  if (single) s.push_back({"dim_keepdim", {m({3, 4, 5})}, with(dims({2}, true))});
  else s.push_back({"dims_keepdim", {m({3, 4, 5})}, with(dims({0, 2}, true))});
  s.push_back({"negative_dim", {m({3, 4})}, with(dims({-1}))});
  s.push_back({"all", {m({3, 4})}, with(dims({}))});
  s.push_back({"noncontiguous", {noncontiguous(m({4, 6}))}, with(dims({1}))});
  s.push_back({"scalar", {m({})}, with(dims({}))});
  s.push_back({"empty", {m({0, 3})}, with(dims({1}))});
  s.push_back({"large", {m({200, 300})}, with(dims({})), false});
  s.push_back({"large_dim", {noncontiguous(m({120, 300}))}, with(dims({1})), false});
  return s;
}

std::vector<ErrorCase> dim_errors() {
  return {{"dim_out_of_range", {ones({2, 3})}, dims({2}), "dim 2 is out of range for a tensor of rank 2"},
          {"repeated_dim", {ones({2, 3})}, dims({1, -1}), "appears more than once"}};
}

template <typename F>
OpEntry reduction(const char* op, F fn, std::string torch, Domain d = {}, std::vector<DType> dtypes = kFloats,
                  std::string domain = "any", bool single = false) {
  OpEntry e;
  e.op = op;
  e.family = "reduce";
  e.invoke = [fn](const Tensors& x, const Attrs& a) {
    return one(fn(x[0], attr_ints(a, "dims"), attr_b(a, "keepdim")));
  };
  e.samples = [op = std::string(op), d, single](DType t) {
    Maker m(op, t, d);
    return reduce_samples(m, single);
  };
  e.torch = std::move(torch);
  e.dtypes = std::move(dtypes);
  e.grad_domain = std::move(domain);
  e.errors = dim_errors;
  // Large float32 sums legitimately differ in their last bits with the summation order.
  e.tol.rtol32 = 1e-4;
  return e;
}

// One dim, two outputs (values, indices): max and min.
template <typename F>
OpEntry extremum_dim(const char* op, F fn) {
  OpEntry e;
  e.op = op;
  e.family = "reduce";
  e.invoke = [fn](const Tensors& x, const Attrs& a) {
    if (!a.has("dim")) return one(fn(x[0]));  // over every element: the public max(x)
    return two(fn(x[0], a.i("dim"), attr_b(a, "keepdim")));
  };
  e.samples = [op = std::string(op)](DType t) {
    Maker m(op, t);
    std::vector<Sample> s;
    s.push_back({"dim", {m({3, 4, 5})}, {{"dim", int64_t{1}}}});
    s.push_back({"keepdim", {m({3, 4, 5})}, {{"dim", int64_t{0}}, {"keepdim", true}}});
    s.push_back({"noncontiguous", {noncontiguous(m({5, 6}))}, {{"dim", int64_t{1}}}});
    s.push_back({"negative_dim", {m({3, 4})}, {{"dim", int64_t{-1}}}});
    s.push_back({"empty", {m({0, 3})}, {{"dim", int64_t{1}}}});
    s.push_back({"all_elements", {m({4, 6})}, {}});
    s.push_back({"large", {m({150, 100})}, {{"dim", int64_t{0}}}, false});
    return s;
  };
  e.torch = std::string("tuple(torch.") + op + "(x[0], A['dim'], keepdim=A.get('keepdim', False))) if 'dim' in A else torch." + op + "(x[0])";
  e.dtypes = {kFloat32, kFloat64, kInt64};
  e.grad_domain = "distinct values (ties are tested by value in tests/autograd)";
  e.errors = [] {
    return std::vector<ErrorCase>{
        {"dim_out_of_range", {ones({2, 3})}, {{"dim", int64_t{3}}}, "out of range"},
        {"empty_dim", {ones({0, 3})}, {{"dim", int64_t{0}}}, "over dim 0"}};
  };
  return e;
}

template <typename F>
OpEntry arg_extremum(const char* op, F fn) {
  OpEntry e;
  e.op = op;
  e.family = "reduce";
  e.invoke = [fn](const Tensors& x, const Attrs& a) {
    std::optional<int64_t> dim;
    if (a.has("dim")) dim = a.i("dim");
    return one(fn(x[0], dim, attr_b(a, "keepdim")));
  };
  e.samples = [op = std::string(op)](DType t) {
    Maker m(op, t);
    std::vector<Sample> s;
    s.push_back({"dim", {m({3, 4, 5})}, {{"dim", int64_t{2}}}});
    s.push_back({"keepdim", {noncontiguous(m({4, 6}))}, {{"dim", int64_t{0}}, {"keepdim", true}}});
    s.push_back({"all_elements", {m({4, 6})}, {}});
    s.push_back({"noncontiguous_all", {noncontiguous(m({9}))}, {}});
    s.push_back({"empty", {m({0, 3})}, {{"dim", int64_t{1}}}});
    s.push_back({"large", {m({150, 100})}, {{"dim", int64_t{1}}}});
    return s;
  };
  e.torch = std::string("torch.") + op + "(x[0], A.get('dim'), keepdim=A.get('keepdim', False))";
  e.dtypes = {kFloat32, kFloat64, kInt64};
  e.errors = [] {
    return std::vector<ErrorCase>{{"empty", {ones({0})}, {}, "of an empty tensor"}};
  };
  return e;
}

OpEntry softmax_like(const char* op, Tensor (*fn)(const Tensor&, int64_t, CallSite), std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "reduce";
  e.invoke = [fn](const Tensors& x, const Attrs& a) { return one(fn(x[0], a.i("dim"), CallSite::current())); };
  e.samples = [op = std::string(op)](DType t) {
    Maker m(op, t, Domain{-5, 5});
    std::vector<Sample> s;
    s.push_back({"last_dim", {m({4, 7})}, {{"dim", int64_t{-1}}}});
    s.push_back({"dim0", {m({3, 4, 5})}, {{"dim", int64_t{0}}}});
    s.push_back({"noncontiguous", {noncontiguous(m({4, 7}))}, {{"dim", int64_t{1}}}});
    s.push_back({"scalar", {m({})}, {{"dim", int64_t{0}}}});
    s.push_back({"empty", {m({0, 3})}, {{"dim", int64_t{1}}}});
    s.push_back({"large", {m({2, 12000})}, {{"dim", int64_t{1}}}, false});
    return s;
  };
  e.torch = std::move(torch);
  e.errors = [] {
    return std::vector<ErrorCase>{{"dim_out_of_range", {ones({2, 3})}, {{"dim", int64_t{2}}}, "out of range"}};
  };
  return e;
}

}  // namespace

void add_reduce(std::vector<OpEntry>& out) {
  {
    OpEntry e = reduction("sum", [](const Tensor& x, Ints d, bool k) { return sum(x, d, k); },
                          "red(torch.sum, x[0], A, dtype=A.get('dtype'))", {}, {kFloat32, kFloat64, kInt64, kBool});
    e.invoke = [](const Tensors& x, const Attrs& a) {
      std::optional<DType> dtype;
      if (a.has("dtype")) dtype = a.get<DType>("dtype");
      return one(sum(x[0], attr_ints(a, "dims"), attr_b(a, "keepdim"), dtype));
    };
    e.samples = [](DType t) {
      Maker m("sum", t);
      auto s = reduce_samples(m);
      s.push_back({"dtype", {m({3, 4})}, {{"dims", Ints{0}}, {"keepdim", false}, {"dtype", kFloat64}}});
      return s;
    };
    out.push_back(std::move(e));
  }
  out.push_back(reduction("mean", [](const Tensor& x, Ints d, bool k) { return mean(x, d, k); },
                          "red(torch.mean, x[0], A)"));
  {
    // Factors near 1 keep products O(1); the zero samples check the rule where the
    // product's gradient is not the product divided by x.
    OpEntry e = reduction("prod", [](const Tensor& x, Ints d, bool k) { return prod(x, d, k); }, "red(torch.prod, x[0], A)",
                          Domain::nonzero(0.6, 1.4), kFloats, "|x| in [0.6, 1.4], or exactly one zero per product");
    e.samples = [](DType t) {
      Maker m("prod", t, Domain::nonzero(0.6, 1.4));
      auto s = reduce_samples(m);
      // One zero in each slice along dim 1 of the first batch; one zero in the whole tensor.
      const Tensor zero_at = logical_and(eq(arange(3).view({1, 3, 1}), tensor<int64_t>({0, 1, 2, 1}).view({1, 1, 4})),
                                         eq(arange(2).view({2, 1, 1}), 0));
      s.push_back({"one_zero_per_slice", {masked_fill(m({2, 3, 4}), zero_at, 0.0)}, dims({1})});
      s.push_back({"one_zero_in_all", {masked_fill(m({2, 3}), eq(arange(6).view({2, 3}), 4), 0.0)}, dims({})});
      return s;
    };
    out.push_back(std::move(e));
  }
  out.push_back(reduction("amax", [](const Tensor& x, Ints d, bool k) { return amax(x, d, k); },
                          "red(torch.amax, x[0], A)", {}, {kFloat32, kFloat64, kInt64}, "distinct values"));
  out.push_back(reduction("amin", [](const Tensor& x, Ints d, bool k) { return amin(x, d, k); },
                          "red(torch.amin, x[0], A)", {}, {kFloat32, kFloat64, kInt64}, "distinct values"));
  out.push_back(extremum_dim("max", [](const Tensor& x, auto... a) { return max(x, a...); }));
  out.push_back(extremum_dim("min", [](const Tensor& x, auto... a) { return min(x, a...); }));
  out.push_back(arg_extremum("argmax", [](const Tensor& x, std::optional<int64_t> d, bool k) { return argmax(x, d, k); }));
  out.push_back(arg_extremum("argmin", [](const Tensor& x, std::optional<int64_t> d, bool k) { return argmin(x, d, k); }));
  for (auto [op, fn] : {std::pair{"var", &var}, std::pair{"std", &tessera::std}}) {
    OpEntry e = reduction(op, [](const Tensor&, Ints, bool) { return Tensor(); }, "", {});
    e.invoke = [fn = fn](const Tensors& x, const Attrs& a) {
      return one(fn(x[0], attr_ints(a, "dims"), attr_i(a, "correction", 1), attr_b(a, "keepdim"),
                     CallSite::current()));
    };
    e.samples = [op = std::string(op)](DType t) {
      Maker m(op, t);
      auto s = reduce_samples(m, false, {{"correction", int64_t{1}}});
      s.push_back({"population", {noncontiguous(m({5, 6}))}, {{"dims", Ints{0}}, {"keepdim", true}, {"correction", int64_t{0}}}});
      // One element per output with correction 1: NaN, as PyTorch.
      s.push_back({"one_element", {m({3, 1})}, {{"dims", Ints{1}}, {"keepdim", false}, {"correction", int64_t{1}}}, false});
      return s;
    };
    e.torch = std::string("red(torch.") + op + ", x[0], A, unbiased=A['correction'] == 1)";
    e.grad_domain = "any; std away from 0 spread";
    out.push_back(std::move(e));
  }
  // norm: the public norm(x, p) runs norm_l1 for p = 1, norm_l2 for p = 2, norm otherwise.
  for (auto [op, p] : {std::pair{"norm", 3.0}, std::pair{"norm_l1", 1.0}, std::pair{"norm_l2", 2.0}}) {
    OpEntry e = reduction(op, [](const Tensor&, Ints, bool) { return Tensor(); }, "", Domain::nonzero(),
                          kFloats, "away from 0 (the kink of |x|)");
    const double pp = p;
    e.invoke = [pp](const Tensors& x, const Attrs& a) {
      return one(norm(x[0], attr_f(a, "p", pp), attr_ints(a, "dims"), attr_b(a, "keepdim")));
    };
    e.samples = [op = std::string(op), pp](DType t) {
      Maker m(op, t, Domain::nonzero());
      auto s = reduce_samples(m, false, {{"p", pp}});
      if (pp == 3.0)
        for (double p : {0.5, 1.5, double(INFINITY), -double(INFINITY), 0.0})
          s.push_back({"p_" + std::to_string(p), {m({2, 3, 4})}, {{"dims", Ints{p == -INFINITY ? 0 : 1}}, {"keepdim", p == 0.0}, {"p", p}}});
      return s;
    };
    e.torch = "red(torch.norm, x[0], A, p=A['p'])";
    if (pp == 3.0) {
      e.gradgrad = true;
      e.errors = [] {
        return std::vector<ErrorCase>{
            {"p_nan", {ones({2})}, {{"dims", Ints{}}, {"keepdim", false}, {"p", NAN}}, "p must not be NaN"},
            {"int_input", {ones({2}, kInt64)}, {{"dims", Ints{}}, {"keepdim", false}, {"p", 3.0}}, "expected a floating point input"}};
      };
    }
    out.push_back(std::move(e));
  }
  out.push_back(reduction("logsumexp", [](const Tensor& x, Ints d, bool k) { return logsumexp(x, d, k); },
                          "red(torch.logsumexp, x[0], A)", Domain{-5, 5}));
  for (auto [op, fn] : {std::pair{"all", &all}, std::pair{"any", &any}}) {
    OpEntry e = reduction(op, [](const Tensor&, Ints, bool) { return Tensor(); }, std::string("red(torch.") + op + ", x[0], A)",
                          {}, {kBool, kFloat32, kInt64}, "", true);
    e.invoke = [fn = fn](const Tensors& x, const Attrs& a) {
      return one(fn(x[0], attr_ints(a, "dims"), attr_b(a, "keepdim"), CallSite::current()));
    };
    e.samples = [op = std::string(op)](DType t) {
      Maker m(op, t);
      auto s = reduce_samples(m, true);
      // Nearly all true / nearly all false, so that both answers occur.
      for (double p : {0.9, 0.1}) s.push_back({"skewed", {gt(rand({5, 4}, kFloat64, &m.gen()), p).to(t)}, dims({1})});
      return s;
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "cumsum";
    e.family = "reduce";
    e.invoke = [](const Tensors& x, const Attrs& a) { return one(cumsum(x[0], a.i("dim"))); };
    e.samples = [](DType t) {
      Maker m("cumsum", t);
      std::vector<Sample> s;
      s.push_back({"dim1", {m({4, 6})}, {{"dim", int64_t{1}}}});
      s.push_back({"dim0", {m({5, 3})}, {{"dim", int64_t{0}}}});
      s.push_back({"noncontiguous", {noncontiguous(m({4, 6}))}, {{"dim", int64_t{-1}}}});
      s.push_back({"scalar", {m({})}, {{"dim", int64_t{0}}}});
      s.push_back({"empty", {m({0, 3})}, {{"dim", int64_t{1}}}});
      s.push_back({"large", {m({12000}, Domain{0, 1})}, {{"dim", int64_t{0}}}, false});
      return s;
    };
    e.torch = "torch.cumsum(x[0], A['dim'])";
    e.dtypes = {kFloat32, kFloat64, kInt64};
    e.tol.rtol32 = 1e-4;
    e.errors = [] {
      return std::vector<ErrorCase>{{"dim_out_of_range", {ones({2, 3})}, {{"dim", int64_t{2}}}, "out of range"}};
    };
    out.push_back(std::move(e));
  }
  out.push_back(softmax_like("softmax", &softmax, "torch.softmax(x[0], A['dim'])"));
  out.push_back(softmax_like("log_softmax", &log_softmax, "torch.log_softmax(x[0], A['dim'])"));
}

}  // namespace tessera::opdb
