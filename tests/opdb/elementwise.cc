// opdb entries of the elementwise family (src/ops/elementwise.cc).
#include <cmath>
#include <functional>
#include <limits>

#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

constexpr std::initializer_list<DType> kFloats{kFloat32, kFloat64};
constexpr std::initializer_list<DType> kFloatsInt{kFloat32, kFloat64, kInt64};

// Multiples of 0.5: ties for comparisons, halves for round.
Tensor halves(const Tensor& t) {
  return is_floating(t.dtype()) ? div(round(mul(t, 2.0)), 2.0) : t;
}

// Finite values with NaN, +inf and -inf spread among them.
Tensor with_specials(const Tensor& t) {
  if (t.numel() == 0 || !is_floating(t.dtype())) return t;
  Tensor c = t.clone();
  Tensor flat = c.view({-1});
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    if (i % 5 == 0) flat[i].fill_(std::nan(""));
    else if (i % 7 == 1) flat[i].fill_(inf);
    else if (i % 9 == 2) flat[i].fill_(-inf);
  }
  return c;
}

// Pointers to public functions carry their call-site parameter (tessera/call_site.h).
using InplaceUnary = Tensor& (*)(Tensor&, CallSite);
using InplaceBinary = Tensor& (*)(Tensor&, const Tensor&, CallSite);

// The in-place form (x.exp_()) as a sample with the attribute "inplace": written into a
// non-contiguous float input (forward only: autograd refuses in-place writes into leaves).
OpEntry unary(const char* op, std::function<Tensor(const Tensor&)> fn, std::string torch, Domain d,
              std::vector<DType> dtypes = kFloats, std::string domain = "any", InplaceUnary inplace = nullptr) {
  OpEntry e;
  e.op = op;
  e.family = "elementwise";
  e.invoke = [fn, inplace](const Tensors& x, const Attrs& a) {
    if (attr_b(a, "inplace")) {
      Tensor self = x[0];
      return one(inplace(self, CallSite::current()));
    }
    return one(fn(x[0]));
  };
  e.samples = [op = std::string(op), d, inplace](DType t) {
    Maker m(op, t, d);
    auto s = unary_samples(m);
    if (inplace && is_floating(t)) s.push_back({"inplace", {noncontiguous(m({3, 4}))}, {{"inplace", true}}, false});
    return s;
  };
  e.torch = std::move(torch);
  e.dtypes = std::move(dtypes);
  e.grad_domain = std::move(domain);
  return e;
}

// A binary op that takes a tensor or, with the attribute "scalar", a number as its second
// operand.
template <typename FT, typename FS>
OpEntry binary(const char* op, FT ft, FS fs, const std::string& torch_fn, std::vector<DType> dtypes,
               PairFn make = nullptr, std::string domain = "any", InplaceBinary inplace = nullptr) {
  OpEntry e;
  e.op = op;
  e.family = "elementwise";
  e.invoke = [ft, fs, inplace](const Tensors& x, const Attrs& a) {
    if (attr_b(a, "inplace")) {
      Tensor self = x[0];
      return one(inplace(self, x[1], CallSite::current()));
    }
    if (a.has("scalar")) return one(fs(x[0], a.scalar("scalar")));
    return one(ft(x[0], x[1]));
  };
  e.samples = [op = std::string(op), make, inplace](DType t) {
    Maker m(op, t);
    auto s = binary_samples(m, {}, make);
    Tensors in = make ? make(m, {3, 4}, {4}) : Tensors{m({3, 4}), m({4})};
    if (inplace && is_floating(t)) s.push_back({"inplace", {noncontiguous(in[0]), in[1]}, {{"inplace", true}}, false});
    // Promotion: an int64 operand with a float one, two float widths, an int tensor with a
    // float number; and a 3-D broadcast.
    if (is_floating(t)) {
      s.push_back({"promote_int", {round(in[0]).to(kInt64), in[1]}});
      s.push_back({"promote_width", {in[0], in[1].to(t == kFloat32 ? kFloat64 : kFloat32)}});
    } else {
      s.push_back({"int_with_float_number", {in[0]}, {{"scalar", Scalar(0.5)}}});
    }
    s.push_back({"broadcast_3d", make ? make(m, {4, 1, 5}, {3, 1}) : Tensors{m({4, 1, 5}), m({3, 1})}});
    Tensors lhs = make ? make(m, {3, 4}, {}) : Tensors{m({3, 4})};
    s.push_back({"scalar_number", {lhs[0]}, {{"scalar", is_floating(t) ? Scalar(1.5) : Scalar(int64_t{3})}}});
    return s;
  };
  e.torch = "torch." + torch_fn + "(x[0], A['scalar'] if 'scalar' in A else x[1])";
  e.dtypes = std::move(dtypes);
  e.grad_domain = std::move(domain);
  e.errors = [] {
    return std::vector<ErrorCase>{{"not_broadcastable", {ones({2, 3}), ones({4})}, {}, "are not broadcastable"}};
  };
  return e;
}

// A comparison or logical op: bool output, not differentiable.
OpEntry compare(const char* op, Tensor (*ft)(const Tensor&, const Tensor&, CallSite),
                Tensor (*fs)(const Tensor&, const Scalar&, CallSite), std::vector<DType> dtypes) {
  OpEntry e;
  e.op = op;
  e.family = "elementwise";
  e.invoke = [ft, fs](const Tensors& x, const Attrs& a) {
    if (a.has("scalar")) return one(fs(x[0], a.scalar("scalar"), CallSite::current()));
    return one(ft(x[0], x[1], CallSite::current()));
  };
  const bool has_scalar = fs != nullptr;
  e.samples = [op = std::string(op), has_scalar](DType t) {
    Maker m(op, t);
    auto s = binary_samples(m, {}, [](Maker& mk, IntArrayRef a, IntArrayRef b) {
      return Tensors{halves(mk(a)), halves(mk(b))};
    });
    if (has_scalar) s.push_back({"scalar_number", {halves(m({3, 4}))}, {{"scalar", Scalar(0.5)}}});
    return s;
  };
  e.torch = std::string("torch.") + op + "(x[0], A['scalar'] if 'scalar' in A else x[1])";
  e.dtypes = std::move(dtypes);
  e.errors = [] {
    return std::vector<ErrorCase>{{"not_broadcastable", {ones({2, 3}), ones({2})}, {}, "are not broadcastable"}};
  };
  return e;
}

// Operands of floor_divide and remainder: a = (k + u) * b with u in [0.1, 0.9], away from
// the jumps of floor(a / b); b away from zero.
Tensors quotient_operands(Maker& m, IntArrayRef sa, IntArrayRef sb) {
  if (!is_floating(m.dtype())) return {m(sa), m(sb, Domain::nonzero(1, 3))};
  const Tensor b = m(sb, Domain::nonzero(0.5, 2));
  const Shape full = ops::broadcast_shapes(sa, sb, "quotient");
  Tensor q = m(full, Domain{-3, 3, 0, 0.1});
  // Where a broadcasts too ([3, 1] with [1, 4]) a is drawn freely: a / b then lands
  // within eps of a jump with negligible probability.
  if (!IntArrayRef(full).equals(sa)) return {m(sa), b};
  return {mul(q, b), b};
}

}  // namespace

// fused_elementwise: the node graph/passes/fuse_elementwise.cc makes of elementwise chains.
OpEntry fused_elementwise_entry() {
  auto program = [](const char* text) { return Attrs{{"program", std::string(text)}}; };
  OpEntry e;
  e.op = "fused_elementwise";
  e.family = "elementwise";
  e.invoke = [](const Tensors& x, const Attrs& a) {
    ops::ensure_registered();
    return ops::call(*ops::find_op("fused_elementwise"), x, a);
  };
  e.samples = [program](DType t) {
    Maker m("fused_elementwise", t, Domain{-2, 2});
    std::vector<Sample> s;
    s.push_back({"chain", {m({4, 5}), m({4, 5})}, program("mul(%0,%1);relu($0)")});
    // 0-d float64 and int64 operands are converted to float32, as eager promotion does.
    s.push_back({"scalars", {m({3, 4}), scalar_tensor(0.5, kFloat64), scalar_tensor(2, kInt64)},
                 program("mul(%0,%1);sub($0,%2);exp($1)")});
    s.push_back({"threshold", {m({3, 4}), m({3, 4})}, program("threshold_backward[0.25](%0,%1)")});
    s.push_back({"leaky_relu", {m({3, 4}), m({3, 4})}, program("add(%0,%1);leaky_relu[0.2]($0)")});
    s.push_back({"noncontiguous", {noncontiguous(m({3, 4})), m({3, 4})},
                 program("add(%0,%1);sigmoid($0);mul($1,%0)")});
    s.push_back({"scalar_first", {m({2, 3}), m({1})}, program("exp(%1);sub($0,%0);maximum($1,%0)")});
    s.push_back({"empty", {m({0, 3}), m({0, 3})}, program("div(%0,%1);neg($0)")});
    // Past the parallel grain: blocks split over threads give the serial run's values.
    s.push_back({"large", {m({200, 300}), m({200, 300})}, program("mul(%0,%1);tanh($0);add($1,%0)"), false});
    return s;
  };
  e.torch = "fused(x, A)";
  e.dtypes = {kFloat32};
  e.errors = [program] {
    return std::vector<ErrorCase>{
        {"unknown_op", {ones({2})}, program("frob(%0)"), "is not a step fused_elementwise runs"},
        {"operand", {ones({2})}, program("mul(%0,%3)"), "input %3 of 1"},
        {"later_step", {ones({2})}, program("neg($0)"), "step $0 is not computed yet"},
        {"unread", {ones({2}), ones({2})}, program("neg(%0)"), "input %1 is never read"},
        {"shape", {ones({2, 3}), ones({3})}, program("add(%0,%1)"), "must have the shape [2, 3]"},
        {"float64", {ones({2}, kFloat64), ones({2}, kFloat64)}, program("add(%0,%1)"), "expected float32"}};
  };
  return e;
}

void add_elementwise(std::vector<OpEntry>& out) {
  out.push_back(fused_elementwise_entry());
  // ---- binary arithmetic ----
  out.push_back(binary("add", [](const Tensor& a, const Tensor& b) { return add(a, b); },
                       [](const Tensor& a, const Scalar& b) { return add(a, b); }, "add", kFloatsInt, nullptr, "any", &add_));
  out.push_back(binary("sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
                       [](const Tensor& a, const Scalar& b) { return sub(a, b); }, "sub", kFloatsInt, nullptr, "any", &sub_));
  out.push_back(binary("mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); },
                       [](const Tensor& a, const Scalar& b) { return mul(a, b); }, "mul", kFloatsInt, nullptr, "any", &mul_));
  out.push_back(binary(
      "div", [](const Tensor& a, const Tensor& b) { return div(a, b); },
      [](const Tensor& a, const Scalar& b) { return div(a, b); }, "div", kFloatsInt,
      [](Maker& m, IntArrayRef a, IntArrayRef b) { return Tensors{m(a), m(b, Domain::nonzero(0.5, 2))}; },
      "divisor away from 0", &div_));
  out.push_back(binary("floor_divide", [](const Tensor& a, const Tensor& b) { return floor_divide(a, b); },
                       [](const Tensor& a, const Scalar& b) { return floor_divide(a, b); }, "floor_divide",
                       kFloatsInt, quotient_operands, "a / b away from integers"));
  out.push_back(binary("remainder", [](const Tensor& a, const Tensor& b) { return remainder(a, b); },
                       [](const Tensor& a, const Scalar& b) { return remainder(a, b); }, "remainder",
                       kFloatsInt, quotient_operands, "a / b away from integers"));
  {
    // pow: tensor ** tensor (positive base), tensor ** number, number ** tensor.
    OpEntry e;
    e.op = "pow";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      if (a.has("base")) return one(pow(a.scalar("base"), x[0]));
      if (attr_b(a, "inplace")) {
        Tensor self = x[0];
        return one(pow_(self, a.scalar("exponent")));
      }
      if (a.has("exponent")) return one(pow(x[0], a.scalar("exponent")));
      return one(pow(x[0], x[1]));
    };
    e.samples = [](DType t) {
      Maker m("pow", t);
      auto s = binary_samples(m, {}, [](Maker& mk, IntArrayRef a, IntArrayRef b) {
        return Tensors{mk(a, Domain::positive(0.5, 2)), mk(b, Domain{-1.5, 1.5})};
      });
      s.push_back({"scalar_exponent", {m({3, 4}, Domain::positive(0.5, 2))}, {{"exponent", Scalar(2.5)}}});
      s.push_back({"int_exponent_negative_base", {m({3, 4})}, {{"exponent", Scalar(int64_t{3})}}});
      s.push_back({"scalar_base", {m({3, 4}, Domain{-1.5, 1.5})}, {{"base", Scalar(2.5)}}});
      s.push_back({"inplace", {noncontiguous(m({3, 4}, Domain::positive(0.5, 2)))}, {{"exponent", Scalar(int64_t{3})}, {"inplace", true}}, false});
      return s;
    };
    e.torch = "torch.pow(A['base'], x[0]) if 'base' in A else torch.pow(x[0], A['exponent'] if 'exponent' in A else x[1])";
    e.grad_domain = "positive base";
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"not_broadcastable", {ones({2, 3}), ones({4})}, {}, "are not broadcastable"},
          {"int_negative_exponent", {ones({2}, kInt64)}, {{"exponent", Scalar(int64_t{-1})}}, "negative"}};
    };
    out.push_back(std::move(e));
  }
  for (auto [op, ft] : {std::pair{"minimum", &minimum}, std::pair{"maximum", &maximum}}) {
    OpEntry e;
    e.op = op;
    e.family = "elementwise";
    e.invoke = [ft = ft](const Tensors& x, const Attrs&) { return one(ft(x[0], x[1], CallSite::current())); };
    e.samples = [op = std::string(op)](DType t) {
      Maker m(op, t);
      return binary_samples(m);
    };
    e.torch = std::string("torch.") + op + "(x[0], x[1])";
    e.dtypes = kFloatsInt;
    e.grad_domain = "distinct values (ties are tested by value in tests/autograd)";
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "atan2";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs&) { return one(atan2(x[0], x[1])); };
    e.samples = [](DType t) {
      Maker m("atan2", t, Domain::nonzero());
      return binary_samples(m);
    };
    e.torch = "torch.atan2(x[0], x[1])";
    e.grad_domain = "both away from 0";
    out.push_back(std::move(e));
  }

  // ---- unary ----
  const Domain any = Domain::any(), positive = Domain::positive(), nonzero = Domain::nonzero();
  out.push_back(unary("neg", [](const Tensor& x) { return neg(x); }, "torch.neg(x[0])", any, kFloatsInt, "any", &neg_));
  out.push_back(unary("abs", [](const Tensor& x) { return abs(x); }, "torch.abs(x[0])", nonzero, kFloatsInt,
                      "away from 0", &abs_));
  out.push_back(unary("sign", [](const Tensor& x) { return sign(x); }, "torch.sign(x[0])", nonzero, kFloatsInt,
                      "away from 0"));
  out.push_back(unary("exp", [](const Tensor& x) { return exp(x); }, "torch.exp(x[0])", any, kFloats, "any", &exp_));
  {
    OpEntry e = unary("expm1", [](const Tensor& x) { return expm1(x); }, "torch.expm1(x[0])", any);
    e.samples = [](DType t) {
      Maker m("expm1", t);
      auto s = unary_samples(m);
      // Near 0, where exp(x) - 1 would lose every digit expm1 keeps.
      s.push_back({"tiny", {m({20}, Domain{-1e-3, 1e-3})}});
      return s;
    };
    out.push_back(std::move(e));
  }
  out.push_back(unary("log", [](const Tensor& x) { return log(x); }, "torch.log(x[0])", positive, kFloats, "positive", &log_));
  out.push_back(unary("log1p", [](const Tensor& x) { return log1p(x); }, "torch.log1p(x[0])", Domain{-0.7, 2},
                      kFloats, "> -1"));
  out.push_back(unary("log2", [](const Tensor& x) { return log2(x); }, "torch.log2(x[0])", positive, kFloats, "positive"));
  out.push_back(unary("sqrt", [](const Tensor& x) { return sqrt(x); }, "torch.sqrt(x[0])", positive, kFloats, "positive", &sqrt_));
  out.push_back(unary("rsqrt", [](const Tensor& x) { return rsqrt(x); }, "torch.rsqrt(x[0])", positive, kFloats,
                      "positive"));
  out.push_back(unary("sin", [](const Tensor& x) { return sin(x); }, "torch.sin(x[0])", any));
  out.push_back(unary("cos", [](const Tensor& x) { return cos(x); }, "torch.cos(x[0])", any));
  out.push_back(unary("tan", [](const Tensor& x) { return tan(x); }, "torch.tan(x[0])", Domain{-1.2, 1.2}, kFloats,
                      "|x| <= 1.2"));
  out.push_back(unary("tanh", [](const Tensor& x) { return tanh(x); }, "torch.tanh(x[0])", any, kFloats, "any", &tanh_));
  out.push_back(unary("sigmoid", [](const Tensor& x) { return sigmoid(x); }, "torch.sigmoid(x[0])", any, kFloats, "any", &sigmoid_));
  out.push_back(unary("erf", [](const Tensor& x) { return erf(x); }, "torch.erf(x[0])", any));
  out.push_back(unary("relu", [](const Tensor& x) { return relu(x); }, "torch.relu(x[0])", nonzero, kFloatsInt,
                      "away from 0", &relu_));
  out.push_back(unary("silu", [](const Tensor& x) { return silu(x); }, "F.silu(x[0])", any));
  out.push_back(unary("square", [](const Tensor& x) { return square(x); }, "torch.square(x[0])", any, kFloatsInt));
  out.push_back(unary("reciprocal", [](const Tensor& x) { return reciprocal(x); }, "torch.reciprocal(x[0])",
                      nonzero, kFloats, "away from 0"));
  out.push_back(unary("floor", [](const Tensor& x) { return floor(x); }, "torch.floor(x[0])",
                      Domain::off_integer(), kFloatsInt, "away from integers"));
  out.push_back(unary("ceil", [](const Tensor& x) { return ceil(x); }, "torch.ceil(x[0])", Domain::off_integer(),
                      kFloatsInt, "away from integers"));
  {
    OpEntry e = unary("round", [](const Tensor& x) { return round(x); }, "torch.round(x[0])",
                      Domain::off_integer(), kFloatsInt, "away from integers and halves");
    // Halves exercise round-half-to-even (forward only: the gradient is 0 everywhere).
    e.samples = [](DType t) {
      Maker m("round", t, Domain{-3, 3, 0, 0.1});
      auto s = unary_samples(m);
      // off_integer values are k + u, u in [0.1, 0.9]: k + 0.3 u keeps clear of the halves too.
      if (is_floating(t))
        for (Sample& x : s) {
          const Tensor v = x.inputs[0].contiguous();
          x.inputs[0] = same_layout(add(floor(v), mul(sub(v, floor(v)), 0.3)), x.inputs[0]);
        }
      s.push_back({"halves", {halves(m({17}, Domain{-4, 4}))}, {}, false});
      return s;
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "gelu";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) { return one(gelu(x[0], attr_s(a, "approximate", "none"))); };
    e.samples = [](DType t) {
      Maker m("gelu", t);
      auto s = unary_samples(m, {{"approximate", std::string("none")}});
      for (Sample& x : unary_samples(m, {{"approximate", std::string("tanh")}})) {
        x.name += "_tanh";
        s.push_back(std::move(x));
      }
      return s;
    };
    e.torch = "F.gelu(x[0], approximate=A['approximate'])";
    e.errors = [] {
      return std::vector<ErrorCase>{{"bad_approximate", {ones({2})}, {{"approximate", std::string("fast")}},
                                     "approximate must be \"none\" or \"tanh\""}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "softplus";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      return one(softplus(x[0], attr_f(a, "beta", 1), attr_f(a, "threshold", 20)));
    };
    e.samples = [](DType t) {
      Maker m("softplus", t);
      auto s = unary_samples(m, {{"beta", 1.0}, {"threshold", 20.0}});
      // beta 2, threshold 1: the linear branch above x = 0.5, values kept clear of it.
      s.push_back({"threshold", {add(m({3, 4}, Domain::nonzero(0.1, 1.5)), 0.5)}, {{"beta", 2.0}, {"threshold", 1.0}}});
      return s;
    };
    e.torch = "F.softplus(x[0], beta=A['beta'], threshold=A['threshold'])";
    e.grad_domain = "away from beta * x = threshold";
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "leaky_relu";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      return one(nn::functional::leaky_relu(x[0], attr_f(a, "negative_slope", 0.01)));
    };
    e.samples = [](DType t) {
      Maker m("leaky_relu", t, Domain::nonzero());
      auto s = unary_samples(m, {{"negative_slope", 0.01}});
      s.push_back({"slope_0_2", {m({3, 4}, Domain::nonzero(0.1, 2.0))}, {{"negative_slope", 0.2}}});
      s.push_back({"slope_above_1", {m({5}, Domain::nonzero(0.1, 2.0))}, {{"negative_slope", 1.5}}});
      return s;
    };
    e.torch = "F.leaky_relu(x[0], negative_slope=A['negative_slope'])";
    e.grad_domain = "away from 0";
    e.errors = [] {
      return std::vector<ErrorCase>{{"integer", {ones({3}, kInt64)}, {{"negative_slope", 0.01}},
                                     "expected a floating-point input"}};
    };
    out.push_back(std::move(e));
  }
  {
    // clamp with number bounds, either optional; values kept 0.1 away from +-0.5.
    OpEntry e;
    e.op = "clamp";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      std::optional<Scalar> lo, hi;
      if (a.has("min")) lo = a.scalar("min");
      if (a.has("max")) hi = a.scalar("max");
      if (attr_b(a, "inplace")) {
        Tensor self = x[0];
        return one(clamp_(self, lo, hi));
      }
      return one(clamp(x[0], lo, hi));
    };
    e.samples = [](DType t) {
      Maker m("clamp", t, Domain{-1.5, 1.5});
      auto off_bounds = [&](const Tensor& v) {
        if (!is_floating(t)) return v;
        return where(lt(abs(sub(abs(v), 0.5)), 0.1), mul(v, 1.5), v);
      };
      const Scalar lo = is_floating(t) ? Scalar(-0.5) : Scalar(int64_t{-1});
      const Scalar hi = is_floating(t) ? Scalar(0.5) : Scalar(int64_t{1});
      std::vector<Sample> s;
      for (Sample& x : unary_samples(m, {{"min", lo}, {"max", hi}})) {
        x.inputs[0] = same_layout(off_bounds(x.inputs[0].contiguous()), x.inputs[0]);
        s.push_back(std::move(x));
      }
      s.push_back({"min_only", {off_bounds(m({3, 4}))}, {{"min", lo}}});
      s.push_back({"max_only", {off_bounds(m({3, 4}))}, {{"max", hi}}});
      s.push_back({"inplace", {noncontiguous(m({3, 4}))}, {{"min", lo}, {"max", hi}, {"inplace", true}}, false});
      return s;
    };
    e.torch = "torch.clamp(x[0], A.get('min'), A.get('max'))";
    e.dtypes = kFloatsInt;
    e.grad_domain = "away from the bounds";
    e.errors = [] { return std::vector<ErrorCase>{{"no_bounds", {ones({2})}, {}, "at least one of min and max"}}; };
    out.push_back(std::move(e));
  }
  {
    // clamp with tensor bounds (broadcast), and lo > hi (then hi wins, as PyTorch).
    OpEntry e;
    e.op = "clamp_tensor";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs&) { return one(clamp(x[0], x[1], x[2])); };
    e.samples = [](DType t) {
      Maker m("clamp_tensor", t);
      // x on a grid that keeps clear of lo in [-1, -0.3] and hi in [0.3, 1].
      const Tensor grid = tensor<double>({-1.4, -0.15, 0.1, 1.3, 0.2, -1.2, 1.1, -0.05, 1.45, -1.35, 0.05, 0.25},
                                         {3, 4}).to(t);
      const Tensor lo = m({3, 1}, Domain{-1, -0.3}), hi = m({4}, Domain{0.3, 1});
      std::vector<Sample> s;
      s.push_back({"broadcast", {grid, lo, hi}});
      s.push_back({"noncontiguous", {noncontiguous(grid), lo, noncontiguous(hi)}});
      s.push_back({"lo_above_hi", {grid, hi, lo}});
      s.push_back({"empty", {m({0, 4}), m({4}), m({4})}});
      s.push_back({"large", {m({65, 67}), m({67}, Domain{-1, -0.3}), m({65, 1}, Domain{0.3, 1})}, {}, false});
      return s;
    };
    e.torch = "torch.clamp(x[0], x[1], x[2])";
    e.grad_domain = "x away from the bounds";
    out.push_back(std::move(e));
  }

  // ---- comparisons and logic ----
  out.push_back(compare("eq", &eq, &eq, {kFloat32, kFloat64, kInt64, kBool}));
  out.push_back(compare("ne", &ne, &ne, {kFloat32, kFloat64, kInt64, kBool}));
  out.push_back(compare("lt", &lt, &lt, {kFloat32, kFloat64, kInt64}));
  out.push_back(compare("le", &le, &le, {kFloat32, kFloat64, kInt64}));
  out.push_back(compare("gt", &gt, &gt, {kFloat32, kFloat64, kInt64}));
  out.push_back(compare("ge", &ge, &ge, {kFloat32, kFloat64, kInt64}));
  out.push_back(compare("logical_and", &logical_and, nullptr, {kBool, kFloat32, kInt64}));
  out.push_back(compare("logical_or", &logical_or, nullptr, {kBool, kFloat32, kInt64}));
  out.push_back(compare("logical_xor", &logical_xor, nullptr, {kBool, kFloat32, kInt64}));
  {
    OpEntry e = unary("logical_not", [](const Tensor& x) { return logical_not(x); }, "torch.logical_not(x[0])",
                      Domain::any(), {kBool, kFloat32, kInt64});
    out.push_back(std::move(e));
  }
  for (auto [op, fn] : {std::pair{"isnan", &tessera::isnan}, std::pair{"isinf", &tessera::isinf},
                         std::pair{"isfinite", &tessera::isfinite}}) {
    OpEntry e = unary(op, [fn = fn](const Tensor& x) { return fn(x, CallSite::current()); },
                      std::string("torch.") + op + "(x[0])", Domain{-3, 3});
    e.samples = [op = std::string(op)](DType t) {
      Maker m(op, t, Domain{-3, 3});
      auto s = unary_samples(m);
      for (Sample& x : s) x.inputs[0] = same_layout(with_specials(x.inputs[0].contiguous()), x.inputs[0]);
      return s;
    };
    e.dtypes = {kFloat32, kFloat64, kInt64};
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "nan_to_num";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      std::optional<double> posinf, neginf;
      if (a.has("posinf")) posinf = a.f("posinf");
      if (a.has("neginf")) neginf = a.f("neginf");
      return one(nan_to_num(x[0], attr_f(a, "nan", 0.0), posinf, neginf));
    };
    e.samples = [](DType t) {
      Maker m("nan_to_num", t, Domain{-3, 3});
      auto s = unary_samples(m);  // finite values: the gradient is checked on them
      s.push_back({"specials", {with_specials(m({4, 6}))}, {}, false});
      s.push_back({"specials_args", {with_specials(m({4, 6}))}, {{"nan", 0.5}, {"posinf", 10.0}, {"neginf", -10.0}}, false});
      return s;
    };
    e.torch = "torch.nan_to_num(x[0], nan=A.get('nan', 0.0), posinf=A.get('posinf'), neginf=A.get('neginf'))";
    e.grad_domain = "finite values";
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "where";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      if (a.has("scalar")) return one(where(x[0], x[1], a.scalar("scalar")));
      return one(where(x[0], x[1], x[2]));
    };
    e.samples = [](DType t) {
      Maker m("where", t);
      std::vector<Sample> s;
      s.push_back({"contiguous", {m.mask({3, 4}), m({3, 4}), m({3, 4})}});
      s.push_back({"broadcast", {m.mask({3, 4}), m({4}), m({3, 1})}});
      s.push_back({"noncontiguous", {noncontiguous(m.mask({3, 4})), noncontiguous(m({3, 4})), m({4})}});
      s.push_back({"scalar_other", {m.mask({4}), m({3, 4})}, {{"scalar", Scalar(0.5)}}});
      s.push_back({"empty", {m.mask({0, 4}), m({0, 4}), m({4})}});
      s.push_back({"large", {m.mask({65, 67}), m({65, 67}), m({67})}, {}, false});
      return s;
    };
    e.torch = "torch.where(x[0], x[1], torch.tensor(A['scalar']) if 'scalar' in A else x[2])";
    e.dtypes = kFloatsInt;
    e.grad_inputs = 0b110;
    e.errors = [] {
      return std::vector<ErrorCase>{{"float_condition", {ones({2}), ones({2}), ones({2})}, {}, "the condition must be a bool tensor"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e;
    e.op = "masked_fill";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      if (attr_b(a, "inplace")) {
        Tensor self = x[0];
        return one(masked_fill_(self, x[1], a.scalar("value")));
      }
      return one(masked_fill(x[0], x[1], a.scalar("value")));
    };
    e.samples = [](DType t) {
      Maker m("masked_fill", t);
      const Attrs v{{"value", is_floating(t) ? Scalar(7.5) : Scalar(int64_t{7})}};
      std::vector<Sample> s;
      s.push_back({"contiguous", {m({3, 4}), m.mask({3, 4})}, v});
      s.push_back({"broadcast", {m({3, 4}), m.mask({4})}, v});
      s.push_back({"noncontiguous", {noncontiguous(m({3, 4})), m.mask({3, 1})}, v});
      s.push_back({"empty", {m({0, 4}), m.mask({4})}, v});
      Attrs inplace = v;
      inplace.add({"inplace", true});
      s.push_back({"inplace", {noncontiguous(m({3, 4})), m.mask({4})}, inplace, false});
      s.push_back({"large", {m({65, 67}), m.mask({65, 1})}, v, false});
      return s;
    };
    e.torch = "torch.masked_fill(x[0], x[1], A['value'])";
    e.dtypes = kFloatsInt;
    e.grad_inputs = 0b1;
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"float_mask", {ones({2}), ones({2})}, {{"value", Scalar(1.0)}}, "the mask must be a bool tensor"},
          {"mask_too_big", {ones({2}), ones({3, 2}, kBool)}, {{"value", Scalar(1.0)}}, "does not broadcast to the input's shape"}};
    };
    out.push_back(std::move(e));
  }
  {
    // ReLU's gradient as graphs run it (graph/passes/fuse_threshold_backward.cc).
    OpEntry e;
    e.op = "threshold_backward";
    e.family = "elementwise";
    e.invoke = [](const Tensors& x, const Attrs& a) {
      ops::ensure_registered();
      return ops::call(*ops::find_op("threshold_backward"), x, a);
    };
    e.samples = [](DType t) {
      Maker m("threshold_backward", t);
      std::vector<Sample> s;
      s.push_back({"relu", {m({3, 5}), m({3, 5})}, {{"threshold", 0.0}}});
      s.push_back({"noncontiguous", {noncontiguous(m({4, 3})), noncontiguous(m({4, 3}))}, {{"threshold", 0.5}}});
      Tensor y = m({2, 3});
      y = where(gt(y, 0.0), y, full({2, 3}, std::nan(""), t));  // a NaN input gives 0
      s.push_back({"nan_input", {m({2, 3}), y}, {{"threshold", 0.0}}});
      s.push_back({"empty", {m({0, 3}), m({0, 3})}, {{"threshold", 0.0}}});
      s.push_back({"large", {m({65, 67}), m({65, 67})}, {{"threshold", -0.25}}, false});
      return s;
    };
    e.torch = "torch.where(x[1] > A['threshold'], x[0], torch.zeros_like(x[0]))";
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"shape", {ones({2, 3}), ones({3})}, {{"threshold", 0.0}}, "expected a gradient and an input of one shape"},
          {"dtype", {ones({2}), ones({2}, kFloat64)}, {{"threshold", 0.0}}, "expected floating-point tensors of one dtype"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
