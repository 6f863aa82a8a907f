// The operator table: one entry per ONNX operator, its import function (the node's inputs
// and attributes -> Tessera ops, by composition where Tessera has no single op), the
// opsets it covers, and a slot for its export function (a later milestone).
//
// Opset differences are handled inside each function (NodeContext::opset()): attributes
// that became inputs (Clip's min/max at 11, Squeeze/Unsqueeze/ReduceSum axes at 13, the
// other reductions' axes at 18, Split's split at 13, Slice's starts/ends at 10, Pad's pads
// at 11, TopK's k at 10), Softmax's 2-D coercion before 13, and so on.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "onnx/importer.h"
#include "tessera/error.h"
#include "tessera/nn/functional.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"

namespace tessera::onnx::detail {
namespace {

using tessera::detail::concat;
namespace F = tessera::nn::functional;
using Outs = std::vector<Tensor>;

// ---------------------------------------------------------------- helpers
Tensor i64(const std::vector<int64_t>& v) { return tensor<int64_t>(v); }
Tensor scalar_like(double v, DType dtype) { return full({}, is_floating(dtype) ? Scalar(v) : Scalar(static_cast<int64_t>(v)), dtype); }
Scalar scalar_for(double v, DType dtype) {
  if (dtype == DType::Bool) return Scalar(v != 0);
  if (is_floating(dtype)) return Scalar(v);
  return Scalar(static_cast<int64_t>(v));
}
std::vector<int64_t> sizes_of(const Tensor& t) { return std::vector<int64_t>(t.sizes().begin(), t.sizes().end()); }
int64_t prod(const std::vector<int64_t>& v, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= v[i];
  return p;
}
std::vector<int64_t> all_dims(int64_t rank) {
  std::vector<int64_t> d(static_cast<size_t>(rank));
  std::iota(d.begin(), d.end(), 0);
  return d;
}
// Wraps negative indices (ONNX allows -dim..dim-1) into range.
Tensor wrap_indices(const Tensor& idx, int64_t dim) {
  const Tensor i = idx.to(DType::Int64);
  return where(lt(i, Scalar(int64_t{0})), add(i, Scalar(dim)), i);
}

// Constant padding of every axis by (begin, end) (negative: crop), with `value`.
Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end, double value) {
  Tensor y = x;
  for (int64_t d = 0; d < x.dim(); ++d) {
    int64_t b = begin[static_cast<size_t>(d)], e = end[static_cast<size_t>(d)];
    if (b < 0) {
      y = y.slice(d, -b, y.size(d));
      b = 0;
    }
    if (e < 0) {
      y = y.slice(d, 0, y.size(d) + e);
      e = 0;
    }
    if (b == 0 && e == 0) continue;
    std::vector<Tensor> parts;
    std::vector<int64_t> s = sizes_of(y);
    if (b > 0) {
      s[static_cast<size_t>(d)] = b;
      parts.push_back(full(s, scalar_for(value, y.dtype()), y.dtype()));
    }
    parts.push_back(y);
    if (e > 0) {
      s[static_cast<size_t>(d)] = e;
      parts.push_back(full(s, scalar_for(value, y.dtype()), y.dtype()));
    }
    y = cat(parts, d);
  }
  return y;
}

// Reflect or edge padding: each padded axis gathered with computed source indices.
Tensor pad_index(const NodeContext& ctx, const Tensor& x, const std::vector<int64_t>& begin,
                 const std::vector<int64_t>& end, bool reflect) {
  Tensor y = x;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t b = begin[static_cast<size_t>(d)], e = end[static_cast<size_t>(d)];
    if (b == 0 && e == 0) continue;
    const int64_t n = y.size(d);
    ctx.check(n > 0, concat(reflect ? "reflect" : "edge", " padding of an empty axis ", d));
    if (reflect) ctx.check(b < n && e < n, concat("reflect padding of axis ", d, " by (", b, ", ", e,
                                                  ") needs pads smaller than its size ", n));
    std::vector<int64_t> src;
    for (int64_t i = -b; i < n + e; ++i) {
      int64_t j = i;
      if (reflect) {
        if (j < 0) j = -j;
        if (j >= n) j = 2 * (n - 1) - j;
      } else {
        j = std::clamp<int64_t>(j, 0, n - 1);
      }
      src.push_back(j);
    }
    y = index_select(y, d, i64(src));
  }
  return y;
}

// ONNX pads lists are [x1_begin, x2_begin, ..., x1_end, x2_end, ...].
void split_pads(const NodeContext& ctx, const std::vector<int64_t>& pads, size_t n, std::vector<int64_t>& b,
                std::vector<int64_t>& e) {
  ctx.check(pads.size() == 2 * n, concat("pads has ", pads.size(), " values; expected ", 2 * n));
  b.assign(pads.begin(), pads.begin() + static_cast<long>(n));
  e.assign(pads.begin() + static_cast<long>(n), pads.end());
}

// ---------------------------------------------------------------- elementwise
#define UNARY(Name, expr)                      \
  Outs Name(NodeContext& c) {                  \
    const Tensor& x = c.in(0);                 \
    return {expr};                             \
  }
UNARY(op_abs, abs(x))
UNARY(op_neg, neg(x))
UNARY(op_exp, exp(x))
UNARY(op_log, log(x))
UNARY(op_sqrt, sqrt(x))
UNARY(op_reciprocal, reciprocal(x))
UNARY(op_floor, floor(x))
UNARY(op_ceil, ceil(x))
UNARY(op_round, round(x))
UNARY(op_sign, sign(x))
UNARY(op_sin, sin(x))
UNARY(op_cos, cos(x))
UNARY(op_tan, tan(x))
UNARY(op_tanh, tanh(x))
UNARY(op_sigmoid, sigmoid(x))
UNARY(op_erf, erf(x))
UNARY(op_relu, relu(x))
UNARY(op_not, logical_not(x))
UNARY(op_isnan, isnan(x))
UNARY(op_identity, x)
UNARY(op_softsign, div(x, add(abs(x), Scalar(1.0))))
UNARY(op_softplus, softplus(x))
UNARY(op_atan, atan2(x, ones_like(x)))
UNARY(op_asin, atan2(x, sqrt(sub(ones_like(x), mul(x, x)))))
UNARY(op_acos, atan2(sqrt(sub(ones_like(x), mul(x, x))), x))
UNARY(op_sinh, mul(sub(exp(x), exp(neg(x))), Scalar(0.5)))
UNARY(op_cosh, mul(add(exp(x), exp(neg(x))), Scalar(0.5)))
UNARY(op_asinh, log(add(x, sqrt(add(mul(x, x), Scalar(1.0))))))
UNARY(op_acosh, log(add(x, sqrt(sub(mul(x, x), Scalar(1.0))))))
UNARY(op_atanh, mul(log(div(add(x, Scalar(1.0)), sub(ones_like(x), x))), Scalar(0.5)))
#undef UNARY

Outs op_isinf(NodeContext& c) {
  const Tensor& x = c.in(0);
  const bool neg_inf = c.i("detect_negative", 1) != 0, pos_inf = c.i("detect_positive", 1) != 0;
  Tensor inf = isinf(x);
  if (neg_inf && pos_inf) return {inf};
  if (!neg_inf && !pos_inf) return {zeros_like(inf)};
  return {logical_and(inf, neg_inf ? lt(x, Scalar(0.0)) : gt(x, Scalar(0.0)))};
}

Outs op_leaky_relu(NodeContext& c) { return {F::leaky_relu(c.in(0), c.f("alpha", 0.01))}; }
Outs op_elu(NodeContext& c) {
  const Tensor& x = c.in(0);
  const double a = c.f("alpha", 1.0);
  return {where(gt(x, Scalar(0.0)), x, mul(expm1(x), Scalar(a)))};
}
Outs op_selu(NodeContext& c) {
  const Tensor& x = c.in(0);
  const double a = c.f("alpha", 1.67326319217681884765625), g = c.f("gamma", 1.05070102214813232421875);
  return {mul(where(gt(x, Scalar(0.0)), x, mul(expm1(x), Scalar(a))), Scalar(g))};
}
Outs op_celu(NodeContext& c) {
  const Tensor& x = c.in(0);
  const double a = c.f("alpha", 1.0);
  return {add(relu(x), minimum(zeros_like(x), mul(expm1(div(x, Scalar(a))), Scalar(a))))};
}
Outs op_thresholded_relu(NodeContext& c) {
  const Tensor& x = c.in(0);
  return {where(gt(x, Scalar(c.f("alpha", 1.0))), x, zeros_like(x))};
}
Outs op_hard_sigmoid(NodeContext& c) {
  const Tensor& x = c.in(0);
  return {clamp(add(mul(x, Scalar(c.f("alpha", 0.2))), Scalar(c.f("beta", 0.5))), Scalar(0.0), Scalar(1.0))};
}
Outs op_hard_swish(NodeContext& c) {
  const Tensor& x = c.in(0);
  return {mul(x, clamp(add(mul(x, Scalar(1.0 / 6.0)), Scalar(0.5)), Scalar(0.0), Scalar(1.0)))};
}
Outs op_shrink(NodeContext& c) {
  const Tensor& x = c.in(0);
  const double l = c.f("lambd", 0.5), b = c.f("bias", 0.0);
  const Tensor lo = add(x, scalar_for(b, x.dtype())), hi = sub(x, scalar_for(b, x.dtype()));
  return {where(lt(x, scalar_for(-l, x.dtype())), lo, where(gt(x, scalar_for(l, x.dtype())), hi, zeros_like(x))).to(x.dtype())};
}
Outs op_prelu(NodeContext& c) {
  const Tensor& x = c.in(0);
  return {where(lt(x, Scalar(0.0)), mul(x, c.in(1)), x)};
}

Outs op_add(NodeContext& c) { return {add(c.in(0), c.in(1))}; }
Outs op_sub(NodeContext& c) { return {sub(c.in(0), c.in(1))}; }
Outs op_mul(NodeContext& c) { return {mul(c.in(0), c.in(1))}; }
Outs op_div(NodeContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (is_floating(a.dtype()) || is_floating(b.dtype())) return {div(a, b)};
  // Integer division truncates toward zero (C's), where floor_divide rounds down.
  const Tensor q = floor_divide(a, b);
  const Tensor inexact = ne(sub(a, mul(q, b)), Scalar(int64_t{0}));
  const Tensor signs_differ = ne(lt(a, Scalar(int64_t{0})), lt(b, Scalar(int64_t{0})));
  return {add(q, logical_and(inexact, signs_differ).to(q.dtype())).to(a.dtype())};
}
Outs op_pow(NodeContext& c) {
  const Tensor &x = c.in(0), &y = c.in(1);
  return {pow(x, y).to(x.dtype())};  // ONNX: the base's type
}
Outs op_mod(NodeContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  const Tensor r = remainder(a, b);  // the sign of the divisor (Python's %)
  if (c.i("fmod", 0) == 0) {
    c.check(!is_floating(a.dtype()), "fmod=0 is for integers; floating inputs need fmod=1");
    return {r};
  }
  // fmod: the sign of the dividend (C's fmod).
  const Tensor zero = zeros_like(r);
  const Tensor fix = logical_and(ne(r, zero), ne(lt(r, zero), lt(a, zeros_like(a))));
  return {where(fix, sub(r, b), r).to(a.dtype())};
}
template <Tensor (*Fn)(const Tensor&, const Tensor&)>
Outs op_variadic(NodeContext& c) {
  c.check(c.num_inputs() >= 1, "needs at least one input");
  Tensor acc = c.in(0);
  for (size_t i = 1; i < c.num_inputs(); ++i) acc = Fn(acc, c.in(i));
  return {acc};
}
Tensor add2(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor min2(const Tensor& a, const Tensor& b) { return minimum(a, b); }
Tensor max2(const Tensor& a, const Tensor& b) { return maximum(a, b); }
Outs op_mean(NodeContext& c) {
  Tensor s = op_variadic<add2>(c)[0];
  return {div(s, Scalar(static_cast<double>(c.num_inputs()))).to(s.dtype())};
}
Outs op_equal(NodeContext& c) { return {eq(c.in(0), c.in(1))}; }
Outs op_less(NodeContext& c) { return {lt(c.in(0), c.in(1))}; }
Outs op_less_equal(NodeContext& c) { return {le(c.in(0), c.in(1))}; }
Outs op_greater(NodeContext& c) { return {gt(c.in(0), c.in(1))}; }
Outs op_greater_equal(NodeContext& c) { return {ge(c.in(0), c.in(1))}; }
Outs op_and(NodeContext& c) { return {logical_and(c.in(0), c.in(1))}; }
Outs op_or(NodeContext& c) { return {logical_or(c.in(0), c.in(1))}; }
Outs op_xor(NodeContext& c) { return {logical_xor(c.in(0), c.in(1))}; }
Outs op_where(NodeContext& c) { return {where(c.in(0), c.in(1), c.in(2))}; }

Outs op_cast(NodeContext& c) {
  const DType to = dtype_from_onnx(static_cast<int32_t>(c.i("to")), c.describe() + ": attribute 'to'");
  return {c.in(0).to(to)};
}
Outs op_cast_like(NodeContext& c) { return {c.in(0).to(c.in(1).dtype())}; }

Outs op_clip(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::optional<Scalar> lo, hi;
  if (c.opset() < 11) {
    if (c.has_attr("min")) lo = scalar_for(c.f("min"), x.dtype());
    if (c.has_attr("max")) hi = scalar_for(c.f("max"), x.dtype());
  } else {
    if (c.has(1)) lo = scalar_for(c.scalar(1), x.dtype());
    if (c.has(2)) hi = scalar_for(c.scalar(2), x.dtype());
  }
  if (!lo && !hi) return {x};
  // ONNX applies min then max (so min > max gives max everywhere), as clamp does.
  return {clamp(x, lo, hi)};
}

// ---------------------------------------------------------------- linear algebra
Outs op_matmul(NodeContext& c) { return {matmul(c.in(0), c.in(1))}; }
Outs op_gemm(NodeContext& c) {
  Tensor a = c.in(0), b = c.in(1);
  c.check(a.dim() == 2 && b.dim() == 2, concat("A and B must be 2-D, got ", shape_str(a.sizes()), " and ",
                                               shape_str(b.sizes())));
  if (c.i("transA", 0)) a = a.transpose(0, 1);
  if (c.i("transB", 0)) b = b.transpose(0, 1);
  const double alpha = c.f("alpha", 1.0), beta = c.f("beta", 1.0);
  Tensor y = matmul(a, b);
  if (alpha != 1.0) y = mul(y, Scalar(alpha));
  if (c.has(2) && beta != 0.0) y = add(y, beta == 1.0 ? c.in(2) : mul(c.in(2), Scalar(beta)));
  return {y.to(c.in(0).dtype())};
}

// ---------------------------------------------------------------- convolution and pooling
struct Window {
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end;
};
// Kernel, strides, dilations and pads of a Conv/Pool node over `spatial` dims of `x`,
// auto_pad resolved (SAME_UPPER/SAME_LOWER: output = ceil(input / stride)).
Window window(const NodeContext& c, const Tensor& x, std::vector<int64_t> kernel, size_t spatial) {
  Window w;
  w.kernel = std::move(kernel);
  c.check(w.kernel.size() == spatial, concat("kernel_shape has ", w.kernel.size(), " dims; the input has ", spatial,
                                             " spatial dims"));
  w.strides = c.ints_attr_opt("strides").value_or(std::vector<int64_t>(spatial, 1));
  w.dilations = c.ints_attr_opt("dilations").value_or(std::vector<int64_t>(spatial, 1));
  c.check(w.strides.size() == spatial && w.dilations.size() == spatial,
          concat("strides/dilations must have ", spatial, " values"));
  for (size_t i = 0; i < spatial; ++i)
    c.check(w.strides[i] >= 1 && w.dilations[i] >= 1 && w.kernel[i] >= 1,
            "kernel_shape, strides and dilations must be >= 1");
  const std::string auto_pad = c.s("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    split_pads(c, c.ints_attr_opt("pads").value_or(std::vector<int64_t>(2 * spatial, 0)), spatial, w.pad_begin,
               w.pad_end);
    for (size_t i = 0; i < spatial; ++i) c.check(w.pad_begin[i] >= 0 && w.pad_end[i] >= 0, "pads must be >= 0");
  } else if (auto_pad == "VALID") {
    w.pad_begin.assign(spatial, 0);
    w.pad_end.assign(spatial, 0);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t in = x.size(static_cast<int64_t>(2 + i));
      const int64_t out = (in + w.strides[i] - 1) / w.strides[i];
      const int64_t total =
          std::max<int64_t>((out - 1) * w.strides[i] + (w.kernel[i] - 1) * w.dilations[i] + 1 - in, 0);
      const int64_t small = total / 2, big = total - small;
      w.pad_begin.push_back(auto_pad == "SAME_UPPER" ? small : big);
      w.pad_end.push_back(auto_pad == "SAME_UPPER" ? big : small);
    }
  } else {
    c.fail(concat("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '", auto_pad, "'"));
  }
  // Explicit padding materializes the padded input: bound it like any computed size.
  std::vector<int64_t> padded = sizes_of(x);
  for (size_t i = 0; i < spatial && 2 + i < padded.size(); ++i) {
    c.check(w.pad_begin[i] < (int64_t{1} << 31) && w.pad_end[i] < (int64_t{1} << 31), "pads are out of range");
    padded[2 + i] += w.pad_begin[i] + w.pad_end[i];
  }
  c.check_size(padded, x.dtype());
  return w;
}
std::vector<int64_t> zero_prefix(const std::vector<int64_t>& spatial, size_t lead) {
  std::vector<int64_t> v(lead, 0);
  v.insert(v.end(), spatial.begin(), spatial.end());
  return v;
}
// 1-D inputs run as 2-D with a height of 1.
bool lift_1d(const NodeContext& c, Tensor& x, const char* what) {
  c.check(x.dim() >= 3, concat(what, " input must be [N, C, ...spatial], got ", shape_str(x.sizes())));
  if (x.dim() > 4) c.unsupported(concat(x.dim() - 2, "-D ", what, " (Tessera has 1-D and 2-D)"));
  if (x.dim() == 3) {
    x = x.unsqueeze(2);
    return true;
  }
  return false;
}
void lift_window(Window& w) {
  for (auto* v : {&w.kernel, &w.strides, &w.dilations}) v->insert(v->begin(), 1);
  for (auto* v : {&w.pad_begin, &w.pad_end}) v->insert(v->begin(), 0);
}

Outs op_conv(NodeContext& c) {
  Tensor x = c.in(0), wt = c.in(1);
  const size_t spatial = static_cast<size_t>(x.dim()) - 2;
  c.check(wt.dim() == x.dim(), concat("W must have the input's rank ", x.dim(), ", got ", shape_str(wt.sizes())));
  std::vector<int64_t> k = c.ints_attr_opt("kernel_shape").value_or(
      std::vector<int64_t>(wt.sizes().begin() + 2, wt.sizes().end()));
  Window w = window(c, x, k, spatial);
  const bool lifted = lift_1d(c, x, "Conv");
  if (lifted) {
    wt = wt.unsqueeze(2);
    lift_window(w);
  }
  Tensor b = c.has(2) ? c.in(2) : Tensor();
  std::vector<int64_t> pad{0, 0};
  if (w.pad_begin == w.pad_end) {
    pad = w.pad_begin;
  } else {
    x = pad_constant(x, zero_prefix(w.pad_begin, 2), zero_prefix(w.pad_end, 2), 0.0);
  }
  Tensor y = F::conv2d(x, wt, b, w.strides, pad, w.dilations, c.i("group", 1));
  return {lifted ? y.squeeze(2) : y};
}

Outs op_conv_transpose(NodeContext& c) {
  Tensor x = c.in(0), wt = c.in(1);
  const size_t spatial = static_cast<size_t>(x.dim()) - 2;
  c.check(wt.dim() == x.dim(), concat("W must have the input's rank ", x.dim(), ", got ", shape_str(wt.sizes())));
  std::vector<int64_t> k = c.ints_attr_opt("kernel_shape").value_or(
      std::vector<int64_t>(wt.sizes().begin() + 2, wt.sizes().end()));
  std::vector<int64_t> strides = c.ints_attr_opt("strides").value_or(std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> dil = c.ints_attr_opt("dilations").value_or(std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> out_pad = c.ints_attr_opt("output_padding").value_or(std::vector<int64_t>(spatial, 0));
  c.check(k.size() == spatial && strides.size() == spatial && dil.size() == spatial && out_pad.size() == spatial,
          concat("kernel_shape, strides, dilations and output_padding must have ", spatial, " values"));
  std::vector<int64_t> pb(spatial, 0), pe(spatial, 0);
  const std::string auto_pad = c.s("auto_pad", "NOTSET");
  auto out_shape = c.ints_attr_opt("output_shape");
  if (out_shape && out_shape->size() == spatial + 2) out_shape->erase(out_shape->begin(), out_shape->begin() + 2);
  if (!out_shape && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")) {
    out_shape = std::vector<int64_t>();
    for (size_t i = 0; i < spatial; ++i) out_shape->push_back(x.size(static_cast<int64_t>(2 + i)) * strides[i]);
  }
  std::vector<int64_t> full_size(spatial);
  for (size_t i = 0; i < spatial; ++i)
    full_size[i] = (x.size(static_cast<int64_t>(2 + i)) - 1) * strides[i] + (k[i] - 1) * dil[i] + 1 + out_pad[i];
  if (out_shape) {
    c.check(out_shape->size() == spatial, concat("output_shape must have ", spatial, " values"));
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t total = full_size[i] - (*out_shape)[i];  // < 0: zeros (and bias) added at the end
      const bool upper = auto_pad == "SAME_UPPER";
      const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);  // floor, as the spec's Python
      pb[i] = upper ? half : total - half;
      pe[i] = upper ? total - half : half;
    }
  } else if (auto_pad == "NOTSET") {
    split_pads(c, c.ints_attr_opt("pads").value_or(std::vector<int64_t>(2 * spatial, 0)), spatial, pb, pe);
  }
  const bool lifted = lift_1d(c, x, "ConvTranspose");
  if (lifted) {
    wt = wt.unsqueeze(2);
    for (auto* v : {&strides, &dil}) v->insert(v->begin(), 1);
    for (auto* v : {&out_pad, &pb, &pe, &full_size}) v->insert(v->begin(), v == &full_size ? 1 : 0);
  }
  // Computed without padding or bias, then cropped (pads, which may differ at the two
  // ends) or extended with zeros (output_padding, or an output_shape beyond the full
  // result), and the bias added everywhere, as ONNX defines the output.
  Tensor y = F::conv_transpose2d(x, wt, Tensor(), strides, {0, 0}, {0, 0}, c.i("group", 1), dil);
  std::vector<int64_t> begin(4, 0), end(4, 0);
  for (size_t i = 0; i < 2; ++i) {
    begin[2 + i] = -pb[i];
    end[2 + i] = out_pad[i] - pe[i];
  }
  y = pad_constant(y, begin, end, 0.0);
  if (c.has(2)) y = add(y, c.in(2).reshape({1, -1, 1, 1}));
  return {lifted ? y.squeeze(2) : y};
}

// 3-D pooling, separable: the (H, W) window by 2-D pooling over [N, C*D, H, W], then the
// depth window by 2-D pooling over [N, C, D, OH*OW] with a (kd, 1) kernel. Max is
// separable; so is an average over an explicitly padded input, whose padded cells the
// caller takes back out with the mask ratio.
Tensor pool_3d(const Tensor& x, const Window& w, bool ceil_mode, bool is_max) {
  const int64_t n = x.size(0), ch = x.size(1), d = x.size(2), h = x.size(3), wd = x.size(4);
  Tensor y = x.reshape({n, ch * d, h, wd});
  y = is_max ? F::max_pool2d(y, {w.kernel[1], w.kernel[2]}, {w.strides[1], w.strides[2]}, {0, 0},
                             {w.dilations[1], w.dilations[2]}, ceil_mode)
             : F::avg_pool2d(y, {w.kernel[1], w.kernel[2]}, {w.strides[1], w.strides[2]}, {0, 0}, ceil_mode, true);
  const int64_t oh = y.size(2), ow = y.size(3);
  y = y.reshape({n, ch, d, oh * ow});
  y = is_max ? F::max_pool2d(y, {w.kernel[0], 1}, {w.strides[0], 1}, {0, 0}, {w.dilations[0], 1}, ceil_mode)
             : F::avg_pool2d(y, {w.kernel[0], 1}, {w.strides[0], 1}, {0, 0}, ceil_mode, true);
  return y.reshape({n, ch, y.size(2), oh, ow});
}
bool pads_any(const Window& w) {
  for (size_t i = 0; i < w.pad_begin.size(); ++i)
    if (w.pad_begin[i] || w.pad_end[i]) return true;
  return false;
}

Outs max_pool_with_indices(NodeContext& c, Tensor x, Window w, bool lifted);
Outs op_max_pool(NodeContext& c) {
  Tensor x = c.in(0);
  c.check(x.dim() >= 3, concat("MaxPool input must be [N, C, ...spatial], got ", shape_str(x.sizes())));
  const size_t spatial = static_cast<size_t>(x.dim()) - 2;
  Window w = window(c, x, c.ints_attr("kernel_shape"), spatial);
  if (spatial == 3 && !c.wants_output(1)) {
    const DType in_type = x.dtype();
    if (!is_floating(in_type)) x = x.to(DType::Float64);
    if (pads_any(w))
      x = pad_constant(x, zero_prefix(w.pad_begin, 2), zero_prefix(w.pad_end, 2), -std::numeric_limits<double>::infinity());
    return {pool_3d(x, w, c.i("ceil_mode", 0) != 0, true).to(in_type)};
  }
  const bool lifted = lift_1d(c, x, "MaxPool");
  if (lifted) lift_window(w);
  if (c.wants_output(1)) return max_pool_with_indices(c, x, w, lifted);
  const bool ceil_mode = c.i("ceil_mode", 0) != 0;
  // Tessera's max pooling is floating point; integers up to 2^53 pass through doubles exactly.
  const DType in_type = x.dtype();
  if (!is_floating(in_type)) x = x.to(DType::Float64);
  bool any_pad = false;
  for (size_t i = 0; i < 2; ++i) any_pad = any_pad || w.pad_begin[i] || w.pad_end[i];
  if (any_pad)
    x = pad_constant(x, zero_prefix(w.pad_begin, 2), zero_prefix(w.pad_end, 2), -std::numeric_limits<double>::infinity());
  Tensor y = F::max_pool2d(x, w.kernel, w.strides, {0, 0}, w.dilations, ceil_mode).to(in_type);
  return {lifted ? y.squeeze(2) : y};
}

Outs op_average_pool(NodeContext& c) {
  Tensor x = c.in(0);
  c.check(x.dim() >= 3, concat("AveragePool input must be [N, C, ...spatial], got ", shape_str(x.sizes())));
  const size_t spatial = static_cast<size_t>(x.dim()) - 2;
  Window w = window(c, x, c.ints_attr("kernel_shape"), spatial);
  if (spatial == 3) {
    for (int64_t d : w.dilations) if (d != 1) c.unsupported("dilations in AveragePool");
    const bool ceil_mode = c.i("ceil_mode", 0) != 0, include_pad = c.i("count_include_pad", 0) != 0;
    const std::vector<int64_t> b = zero_prefix(w.pad_begin, 2), e = zero_prefix(w.pad_end, 2);
    // As the 2-D case: divide by the average of the mask of counted cells, which also
    // fixes windows that ceil_mode lets hang over the end.
    Tensor y = pool_3d(pad_constant(x, b, e, 0.0), w, ceil_mode, false);
    if (pads_any(w) || ceil_mode) {
      const Tensor mask = pad_constant(ones_like(x), b, e, include_pad ? 1.0 : 0.0);
      y = div(y, pool_3d(mask, w, ceil_mode, false));
      if (include_pad && ceil_mode)
        y = mul(y, pool_3d(pad_constant(ones_like(x), b, e, 1.0), w, ceil_mode, false));
    }
    return {y};
  }
  const bool lifted = lift_1d(c, x, "AveragePool");
  if (lifted) lift_window(w);
  const bool ceil_mode = c.i("ceil_mode", 0) != 0;
  const bool include_pad = c.i("count_include_pad", 0) != 0;
  for (int64_t d : w.dilations) if (d != 1) c.unsupported("dilations in AveragePool");
  bool any_pad = false;
  for (size_t i = 0; i < 2; ++i) any_pad = any_pad || w.pad_begin[i] || w.pad_end[i];
  Tensor y;
  if (!any_pad) {
    y = F::avg_pool2d(x, w.kernel, w.strides, {0, 0}, ceil_mode, true);
    if (ceil_mode) {  // windows hanging over the end average what they cover
      Tensor cover = F::avg_pool2d(ones_like(x), w.kernel, w.strides, {0, 0}, ceil_mode, true);
      y = div(y, cover);
    }
  } else {
    // Explicit (possibly uneven) padding; without count_include_pad the padded cells are
    // taken back out by dividing by the average of a mask of the real cells.
    const std::vector<int64_t> b = zero_prefix(w.pad_begin, 2), e = zero_prefix(w.pad_end, 2);
    y = F::avg_pool2d(pad_constant(x, b, e, 0.0), w.kernel, w.strides, {0, 0}, ceil_mode, true);
    Tensor mask = pad_constant(ones_like(x), b, e, include_pad ? 1.0 : 0.0);
    Tensor cover = F::avg_pool2d(mask, w.kernel, w.strides, {0, 0}, ceil_mode, true);
    if (!include_pad || ceil_mode) y = div(y, cover);
    if (include_pad && ceil_mode) {
      Tensor all = F::avg_pool2d(pad_constant(ones_like(x), b, e, 1.0), w.kernel, w.strides, {0, 0}, ceil_mode, true);
      y = mul(y, all);
    }
  }
  return {lifted ? y.squeeze(2) : y};
}

Outs op_global_average_pool(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return {mean(x, dims, true)};
}
Outs op_global_max_pool(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return {amax(x, dims, true)};
}

// ---------------------------------------------------------------- normalization
Tensor per_channel(const Tensor& v, int64_t rank) {
  std::vector<int64_t> s(static_cast<size_t>(rank), 1);
  s[1] = -1;
  return v.reshape(s);
}
Outs op_batch_norm(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t r = x.dim();
  c.check(r >= 2, concat("X must be [N, C, ...], got ", shape_str(x.sizes())));
  const double eps = c.f("epsilon", 1e-5), momentum = c.f("momentum", 0.9);
  const bool training = c.opset() >= 14 ? c.i("training_mode", 0) != 0 : c.wants_output(1);
  Tensor m = c.in(3), v = c.in(4);
  Outs outs;
  if (training) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < r; ++d) dims.push_back(d);
    const Tensor cm = mean(x, dims), cv = var(x, dims, 0);
    outs.resize(3);
    outs[1] = add(mul(m, Scalar(momentum)), mul(cm, Scalar(1 - momentum)));
    outs[2] = add(mul(v, Scalar(momentum)), mul(cv, Scalar(1 - momentum)));
    m = cm;
    v = cv;
  }
  Tensor y = mul(div(sub(x, per_channel(m, r)), sqrt(add(per_channel(v, r), Scalar(eps)))), per_channel(c.in(1), r));
  y = add(y, per_channel(c.in(2), r));
  if (outs.empty()) return {y};
  outs[0] = y;
  return outs;
}
Outs op_instance_norm(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t r = x.dim();
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < r; ++d) dims.push_back(d);
  const Tensor m = mean(x, dims, true), v = var(x, dims, 0, true);
  Tensor y = div(sub(x, m), sqrt(add(v, Scalar(c.f("epsilon", 1e-5)))));
  return {add(mul(y, per_channel(c.in(1), r)), per_channel(c.in(2), r))};
}
Outs op_layer_norm(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(c.i("axis", -1), x.dim());
  std::vector<int64_t> dims;
  for (int64_t d = axis; d < x.dim(); ++d) dims.push_back(d);
  const DType stash = dtype_from_onnx(static_cast<int32_t>(c.i("stash_type", 1)), c.describe() + ": stash_type");
  const Tensor xs = x.to(is_floating(stash) ? stash : x.dtype());
  const Tensor m = mean(xs, dims, true);
  const Tensor d = sub(xs, m);
  const Tensor inv = rsqrt(add(mean(mul(d, d), dims, true), Scalar(c.f("epsilon", 1e-5))));
  Tensor y = mul(mul(d, inv).to(x.dtype()), c.in(1));
  if (c.has(2)) y = add(y, c.in(2));
  return {y, m, inv};
}
Outs op_mvn(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> axes = c.ints_attr_opt("axes").value_or(std::vector<int64_t>{0, 2, 3});
  for (auto& a : axes) a = c.axis(a, x.dim());
  const Tensor m = mean(x, axes, true);
  const Tensor d = sub(x, m);
  return {div(d, add(sqrt(mean(mul(d, d), axes, true)), Scalar(1e-9)))};
}
Outs op_lrn(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t size = c.i("size");
  c.check(size >= 1 && size <= 2 * x.size(1) + 1, concat("size must be 1 to 2 * channels + 1, got ", size));
  const double alpha = c.f("alpha", 1e-4), beta = c.f("beta", 0.75), bias = c.f("bias", 1.0);
  std::vector<int64_t> b(static_cast<size_t>(x.dim()), 0), e = b;
  b[1] = (size - 1) / 2;
  e[1] = size - 1 - (size - 1) / 2;
  const Tensor sq = pad_constant(mul(x, x), b, e, 0.0);
  Tensor sum_sq = sq.slice(1, 0, x.size(1));
  for (int64_t i = 1; i < size; ++i) sum_sq = add(sum_sq, sq.slice(1, i, i + x.size(1)));
  return {div(x, pow(add(mul(sum_sq, Scalar(alpha / static_cast<double>(size))), Scalar(bias)), Scalar(beta)))};
}
Outs op_dropout(NodeContext& c) {
  const Tensor& x = c.in(0);
  double ratio = c.opset() >= 12 ? (c.has(1) ? c.scalar(1) : 0.5) : c.f("ratio", 0.5);
  const bool training = c.opset() >= 12 && c.has(2) && c.scalar(2) != 0;
  if (training && ratio > 0) c.unsupported("Dropout in training mode (random masks cannot match another runtime)");
  (void)ratio;
  Outs outs{x};
  if (c.wants_output(1)) outs.push_back(ones(x.sizes(), DType::Bool));
  return outs;
}

// ---------------------------------------------------------------- softmax family
// Before opset 13 these coerce the input to 2-D at `axis` (default 1) and work on rows.
template <Tensor (*Fn)(const Tensor&, int64_t)>
Outs softmax_like(NodeContext& c) {
  const Tensor& x = c.in(0);
  if (c.opset() >= 13) return {Fn(x, c.axis(c.i("axis", -1), x.dim()))};
  const int64_t axis = c.axis(c.i("axis", 1), x.dim());
  const std::vector<int64_t> s = sizes_of(x);
  const int64_t rows = prod(s, 0, static_cast<size_t>(axis));
  return {Fn(x.reshape({rows, prod(s, static_cast<size_t>(axis), s.size())}), 1).reshape(s)};
}
Tensor softmax_fn(const Tensor& x, int64_t d) { return softmax(x, d); }
Tensor log_softmax_fn(const Tensor& x, int64_t d) { return log_softmax(x, d); }
Tensor hardmax_fn(const Tensor& x, int64_t d) {
  const Tensor idx = argmax(x, d, true);
  std::vector<int64_t> s(static_cast<size_t>(x.dim()), 1);
  s[static_cast<size_t>(d)] = x.size(d);
  return eq(arange(Scalar(int64_t{0}), Scalar(x.size(d)), Scalar(int64_t{1})).reshape(s), idx).to(x.dtype());
}

// ---------------------------------------------------------------- reductions
// The axes of a Reduce* node: an attribute up to the opset where they became an input
// (13 for ReduceSum, 18 for the others). Empty means all, unless noop_with_empty_axes.
std::optional<std::vector<int64_t>> reduce_axes(NodeContext& c, int64_t input_since, int64_t rank) {
  std::vector<int64_t> axes;
  if (c.opset() >= input_since) {
    if (c.has(1)) axes = c.ints(1);
  } else {
    axes = c.ints_attr_opt("axes").value_or(std::vector<int64_t>{});
  }
  if (axes.empty()) {
    if (c.i("noop_with_empty_axes", 0)) return std::nullopt;
    return all_dims(rank);
  }
  for (auto& a : axes) a = c.axis(a, rank);
  return axes;
}
enum class Red { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };
template <Red R>
Outs op_reduce(NodeContext& c) {
  const Tensor& x = c.in(0);
  const auto axes = reduce_axes(c, R == Red::Sum ? 13 : 18, x.dim());
  if (!axes) return {x};
  const bool keep = c.i("keepdims", 1) != 0;
  const std::vector<int64_t>& a = *axes;
  Tensor y;
  switch (R) {
    case Red::Sum: y = sum(x, a, keep); break;
    case Red::Mean: y = mean(x, a, keep); break;
    case Red::Max: y = amax(x, a, keep); break;
    case Red::Min: y = amin(x, a, keep); break;
    case Red::Prod: y = prod(x, a, keep); break;
    case Red::L1: y = sum(abs(x), a, keep); break;
    case Red::L2: y = sqrt(sum(mul(x, x), a, keep)); break;
    case Red::LogSum: y = log(sum(x, a, keep)); break;
    case Red::LogSumExp: y = logsumexp(x, a, keep); break;
    case Red::SumSquare: y = sum(mul(x, x), a, keep); break;
  }
  return {y.to(x.dtype())};
}
template <bool Max>
Outs op_arg(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(c.i("axis", 0), x.dim());
  const bool keep = c.i("keepdims", 1) != 0;
  if (c.i("select_last_index", 0)) {
    const Tensor f = flip(x, {axis});
    const Tensor i = Max ? argmax(f, axis, keep) : argmin(f, axis, keep);
    return {sub(full_like(i, Scalar(x.size(axis) - 1)), i)};
  }
  return {Max ? argmax(x, axis, keep) : argmin(x, axis, keep)};
}
Outs op_cumsum(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(static_cast<int64_t>(c.scalar(1)), x.dim());
  const bool reverse = c.i("reverse", 0) != 0, exclusive = c.i("exclusive", 0) != 0;
  Tensor v = reverse ? flip(x, {axis}) : x;
  Tensor y = cumsum(v, axis).to(x.dtype());
  if (exclusive) y = sub(y, v).to(x.dtype());
  return {reverse ? flip(y, {axis}) : y};
}

// ---------------------------------------------------------------- shapes
Outs op_reshape(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> shape = c.opset() >= 5 ? c.ints(1) : c.ints_attr("shape");
  const bool allowzero = c.i("allowzero", 0) != 0;
  int minus = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allowzero) {
      c.check(static_cast<int64_t>(i) < x.dim(), concat("shape[", i, "] = 0 copies a dim the input (",
                                                         shape_str(x.sizes()), ") does not have"));
      shape[i] = x.size(static_cast<int64_t>(i));
    }
    c.check(shape[i] >= -1, concat("shape[", i, "] = ", shape[i], "; expected >= -1"));
    if (shape[i] == -1) ++minus;
  }
  c.check(minus <= 1, "shape has more than one -1");
  return {x.reshape(shape)};
}
Outs op_flatten(NodeContext& c) {
  const Tensor& x = c.in(0);
  int64_t axis = c.i("axis", 1);
  c.check(axis >= -x.dim() && axis <= x.dim(), concat("axis ", axis, " is out of range for rank ", x.dim()));
  if (axis < 0) axis += x.dim();
  const std::vector<int64_t> s = sizes_of(x);
  return {x.reshape({prod(s, 0, static_cast<size_t>(axis)), prod(s, static_cast<size_t>(axis), s.size())})};
}
Outs op_transpose(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> perm = c.ints_attr_opt("perm").value_or(std::vector<int64_t>{});
  if (perm.empty()) {
    perm = all_dims(x.dim());
    std::reverse(perm.begin(), perm.end());
  }
  c.check(static_cast<int64_t>(perm.size()) == x.dim(), concat("perm has ", perm.size(), " values for rank ", x.dim()));
  return {x.permute(perm)};
}
std::vector<int64_t> axes_arg(NodeContext& c, int64_t input_since) {
  if (c.opset() >= input_since) return c.has(1) ? c.ints(1) : std::vector<int64_t>{};
  return c.ints_attr_opt("axes").value_or(std::vector<int64_t>{});
}
Outs op_squeeze(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> axes = axes_arg(c, 13);
  std::vector<bool> drop(static_cast<size_t>(x.dim()), false);
  if (axes.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) drop[static_cast<size_t>(d)] = x.size(d) == 1;
  }
  for (int64_t a : axes) {
    const int64_t d = c.axis(a, x.dim());
    c.check(x.size(d) == 1, concat("axis ", a, " has size ", x.size(d), ", not 1 (input ", shape_str(x.sizes()), ")"));
    drop[static_cast<size_t>(d)] = true;
  }
  std::vector<int64_t> s;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!drop[static_cast<size_t>(d)]) s.push_back(x.size(d));
  return {x.reshape(s)};
}
Outs op_unsqueeze(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> axes = axes_arg(c, 13);
  c.check(!axes.empty(), "axes is required");
  const int64_t r = x.dim() + static_cast<int64_t>(axes.size());
  std::vector<bool> is_new(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    const int64_t d = c.axis(a, r);
    c.check(!is_new[static_cast<size_t>(d)], concat("axis ", a, " is given twice"));
    is_new[static_cast<size_t>(d)] = true;
  }
  std::vector<int64_t> s;
  int64_t src = 0;
  for (int64_t d = 0; d < r; ++d) s.push_back(is_new[static_cast<size_t>(d)] ? 1 : x.size(src++));
  return {x.reshape(s)};
}
Outs op_concat(NodeContext& c) {
  std::vector<Tensor> parts;
  for (size_t i = 0; i < c.num_inputs(); ++i) parts.push_back(c.in(i));
  c.check(!parts.empty(), "needs at least one input");
  return {cat(parts, c.axis(c.i("axis"), parts[0].dim()))};
}
Outs op_split(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(c.i("axis", 0), x.dim());
  std::vector<int64_t> sizes = c.opset() >= 13 ? (c.has(1) ? c.ints(1) : std::vector<int64_t>{})
                                               : c.ints_attr_opt("split").value_or(std::vector<int64_t>{});
  const int64_t n = x.size(axis);
  if (sizes.empty()) {
    const int64_t parts = c.opset() >= 18 && c.has_attr("num_outputs") ? c.i("num_outputs")
                                                                          : static_cast<int64_t>(c.num_outputs());
    c.check(parts >= 1 && parts <= static_cast<int64_t>(std::max<size_t>(c.num_outputs(), 1)),
            concat("num_outputs ", parts, " must be 1 to the node's ", c.num_outputs(), " outputs"));
    const int64_t each = (n + parts - 1) / parts;
    c.check(c.opset() >= 18 || n % parts == 0,
            concat("axis ", axis, " of size ", n, " does not split evenly into ", parts, " outputs"));
    for (int64_t i = 0; i < parts; ++i) sizes.push_back(std::min(each, n - i * each));
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    c.check(s >= 0, "split sizes must be >= 0");
    total += s;
  }
  c.check(total == n, concat("split sizes add up to ", total, "; axis ", axis, " has size ", n));
  Outs outs;
  int64_t at = 0;
  for (int64_t s : sizes) {
    outs.push_back(x.slice(axis, at, at + s));
    at += s;
  }
  return outs;
}
Outs op_slice(NodeContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset() < 10) {
    starts = c.ints_attr("starts");
    ends = c.ints_attr("ends");
    axes = c.ints_attr_opt("axes").value_or(std::vector<int64_t>{});
  } else {
    starts = c.ints(1);
    ends = c.ints(2);
    if (c.has(3)) axes = c.ints(3);
    if (c.has(4)) steps = c.ints(4);
  }
  c.check(starts.size() == ends.size(), "starts and ends differ in length");
  if (axes.empty()) axes = all_dims(static_cast<int64_t>(starts.size()));
  if (steps.empty()) steps.assign(starts.size(), 1);
  c.check(axes.size() == starts.size() && steps.size() == starts.size(), "axes/steps differ in length from starts");
  Tensor y = x;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t d = c.axis(axes[i], x.dim());
    const int64_t n = x.size(d), step = steps[i];
    c.check(step != 0, "steps must not be 0");
    int64_t s = starts[i] < 0 ? starts[i] + n : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + n : ends[i];
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      y = y.slice(d, s, std::max(s, e), step);
    } else {
      s = std::clamp<int64_t>(s, 0, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      // Backwards: the same elements, counted from the end of the flipped axis.
      y = flip(y, {d});
      const int64_t fs = n - 1 - s, fe = n - 1 - e;
      y = y.slice(d, fs, std::max(fs, fe), -step);
    }
  }
  return {y};
}
Outs op_gather(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(c.i("axis", 0), x.dim());
  const Tensor idx = wrap_indices(c.in(1), x.size(axis));
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().begin() + axis);
  for (int64_t v : idx.sizes()) s.push_back(v);
  for (int64_t d = axis + 1; d < x.dim(); ++d) s.push_back(x.size(d));
  return {index_select(x, axis, idx.reshape({-1})).reshape(s)};
}
Outs op_gather_elements(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(c.i("axis", 0), x.dim());
  return {gather(x, axis, wrap_indices(c.in(1), x.size(axis)))};
}
Outs op_gather_nd(NodeContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const int64_t b = c.i("batch_dims", 0);
  c.check(idx.dim() >= 1 && b >= 0 && b < std::min(x.dim(), idx.dim()), "batch_dims out of range");
  const int64_t k = idx.size(-1);
  c.check(k >= 1 && b + k <= x.dim(), concat("indices' last dim ", k, " exceeds the data's rank ", x.dim()));
  const std::vector<int64_t> xs = sizes_of(x);
  const int64_t batch = prod(xs, 0, static_cast<size_t>(b));
  const int64_t block = prod(xs, static_cast<size_t>(b), static_cast<size_t>(b + k));
  // Linear row index into x viewed as [batch * block, rest...].
  Tensor lin = zeros(std::vector<int64_t>(idx.sizes().begin(), idx.sizes().end() - 1), DType::Int64);
  int64_t stride = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    const int64_t n = xs[static_cast<size_t>(b + j)];
    lin = add(lin, mul(wrap_indices(idx.select(-1, j), n), Scalar(stride)));
    stride *= n;
  }
  if (b > 0) {
    std::vector<int64_t> bs(static_cast<size_t>(idx.dim() - 1), 1);
    bs[0] = batch;
    for (int64_t d = 0; d < b; ++d) bs[static_cast<size_t>(d)] = xs[static_cast<size_t>(d)];
    Tensor boff = mul(arange(Scalar(int64_t{0}), Scalar(batch), Scalar(int64_t{1})), Scalar(block));
    std::vector<int64_t> bshape(xs.begin(), xs.begin() + b);
    bshape.resize(static_cast<size_t>(idx.dim() - 1), 1);
    lin = add(lin, boff.reshape(bshape));
  }
  std::vector<int64_t> rows{batch * block};
  std::vector<int64_t> out(idx.sizes().begin(), idx.sizes().end() - 1);
  for (size_t d = static_cast<size_t>(b + k); d < xs.size(); ++d) {
    rows.push_back(xs[d]);
    out.push_back(xs[d]);
  }
  return {index_select(x.reshape(rows), 0, lin.reshape({-1})).reshape(out)};
}
Outs op_scatter_elements(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t axis = c.axis(c.i("axis", 0), x.dim());
  const std::string red = c.s("reduction", "none");
  const Tensor idx = wrap_indices(c.in(1), x.size(axis));
  if (red == "none") return {scatter(x, axis, idx, c.in(2))};
  if (red == "add") return {scatter_add(x, axis, idx, c.in(2))};
  c.unsupported(concat("reduction '", red, "'"));
}
Outs op_scatter_nd(NodeContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const std::string red = c.s("reduction", "none");
  if (red != "none" && red != "add") c.unsupported(concat("reduction '", red, "'"));
  const int64_t k = idx.size(-1);
  c.check(k >= 1 && k <= x.dim(), concat("indices' last dim ", k, " must be 1 to the data's rank ", x.dim()));
  std::vector<Tensor> per_dim;
  for (int64_t j = 0; j < k; ++j) per_dim.push_back(wrap_indices(idx.select(-1, j), x.size(j)));
  return {index_put(x, per_dim, c.in(2), red == "add")};
}
Outs op_expand(NodeContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> shape = c.ints(1);
  // Bidirectional broadcast: the result has the larger of each pair of dims.
  const size_t r = std::max(shape.size(), static_cast<size_t>(x.dim()));
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t a = i + static_cast<size_t>(x.dim()) >= r ? x.size(static_cast<int64_t>(i + x.dim() - r)) : 1;
    const int64_t b = i + shape.size() >= r ? shape[i + shape.size() - r] : 1;
    c.check(a == b || a == 1 || b == 1, concat("shape ", shape_str(shape), " does not broadcast with the input ",
                                               shape_str(x.sizes())));
    out[i] = a == 1 ? b : a;
  }
  c.check_size(out, x.dtype());
  return {x.expand(out).contiguous()};
}
Outs op_tile(NodeContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> reps = c.ints(1);
  c.check(static_cast<int64_t>(reps.size()) == x.dim(), concat("repeats has ", reps.size(), " values for rank ", x.dim()));
  std::vector<int64_t> out = sizes_of(x);
  for (size_t i = 0; i < out.size(); ++i) {
    c.check(reps[i] >= 0, concat("repeats must be >= 0, got ", reps[i]));
    c.check_size({out[i], reps[i]}, x.dtype());
    out[i] *= reps[i];
  }
  c.check_size(out, x.dtype());
  return {tile(x, reps)};
}
Outs op_pad(NodeContext& c) {
  const Tensor& x = c.in(0);
  const std::string mode = c.s("mode", "constant");
  std::vector<int64_t> pads;
  double value = 0;
  std::vector<int64_t> axes = all_dims(x.dim());
  if (c.opset() < 11) {
    pads = c.ints_attr("pads");
    value = c.f("value", 0.0);
  } else {
    pads = c.ints(1);
    if (c.has(2)) value = c.scalar(2);
    if (c.has(3)) {
      axes = c.ints(3);
      for (auto& a : axes) a = c.axis(a, x.dim());
    }
  }
  std::vector<int64_t> pb, pe, b(static_cast<size_t>(x.dim()), 0), e = b;
  split_pads(c, pads, axes.size(), pb, pe);
  for (size_t i = 0; i < axes.size(); ++i) {
    b[static_cast<size_t>(axes[i])] = pb[i];
    e[static_cast<size_t>(axes[i])] = pe[i];
  }
  std::vector<int64_t> out = sizes_of(x);
  for (size_t i = 0; i < out.size(); ++i) {
    c.check(std::abs(b[i]) < (int64_t{1} << 40) && std::abs(e[i]) < (int64_t{1} << 40), "pads are out of range");
    out[i] += b[i] + e[i];
    c.check(out[i] >= 0, concat("pads (", b[i], ", ", e[i], ") crop more than axis ", i, "'s size ", x.size(static_cast<int64_t>(i))));
  }
  c.check_size(out, x.dtype());
  if (mode == "constant") return {pad_constant(x, b, e, value)};
  for (size_t i = 0; i < b.size(); ++i)
    if (b[i] < 0 || e[i] < 0) c.unsupported(concat("negative pads in ", mode, " mode"));
  if (mode == "reflect" || mode == "edge") return {pad_index(c, x, b, e, mode == "reflect")};
  c.fail(concat("mode must be constant, reflect or edge, got '", mode, "'"));
}
Outs op_constant(NodeContext& c) {
  if (c.has_attr("value")) return {c.tensor_attr("value")};
  if (c.has_attr("value_float")) return {scalar_like(c.f("value_float"), DType::Float32)};
  if (c.has_attr("value_int")) return {full({}, Scalar(c.i("value_int")), DType::Int64)};
  if (c.has_attr("value_floats")) return {tensor<float>(c.floats_attr("value_floats"))};
  if (c.has_attr("value_ints")) return {i64(c.ints_attr("value_ints"))};
  if (c.has_attr("sparse_value")) c.unsupported("sparse_value");
  c.unsupported("a Constant without a value, value_float(s) or value_int(s) attribute");
}
Outs op_constant_of_shape(NodeContext& c) {
  const std::vector<int64_t> shape = c.has(0) ? c.ints(0) : std::vector<int64_t>{};
  if (!c.has_attr("value")) {
    c.check_size(shape, DType::Float32);
    return {zeros(shape, DType::Float32)};
  }
  const Tensor v = c.tensor_attr("value");
  c.check_size(shape, v.dtype());
  c.check(v.numel() == 1, concat("value must hold one element, got ", shape_str(v.sizes())));
  return {v.reshape({}).expand(shape).contiguous()};
}
Outs op_shape(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t r = x.dim();
  int64_t start = c.opset() >= 15 ? c.i("start", 0) : 0, end = c.opset() >= 15 ? c.i("end", r) : r;
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> s(x.sizes().begin() + start, x.sizes().begin() + std::max(start, end));
  return {i64(s)};
}
Outs op_size(NodeContext& c) { return {full({}, Scalar(c.in(0).numel()), DType::Int64)}; }
Outs op_range(NodeContext& c) {
  const DType t = c.in(0).dtype();
  const double start = c.scalar(0), limit = c.scalar(1), delta = c.scalar(2);
  c.check(delta != 0, "delta must not be 0");
  const double count = std::max(std::ceil((limit - start) / delta), 0.0);
  c.check(count < 1e15, concat("Range would have ", count, " elements"));
  c.check_size({static_cast<int64_t>(count)}, t);
  const Tensor k = arange(Scalar(int64_t{0}), Scalar(static_cast<int64_t>(count)), Scalar(int64_t{1}));
  if (is_floating(t)) return {add(mul(k.to(t), scalar_for(delta, t)), scalar_for(start, t)).to(t)};
  return {add(mul(k, Scalar(static_cast<int64_t>(delta))), Scalar(static_cast<int64_t>(start))).to(t)};
}
Outs op_one_hot(NodeContext& c) {
  const Tensor& idx = c.in(0);
  const int64_t depth = static_cast<int64_t>(c.scalar(1));
  c.check(depth >= 1, concat("depth must be >= 1, got ", depth));
  const Tensor& values = c.in(2);
  c.check(values.numel() == 2, concat("values must be [off, on], got ", shape_str(values.sizes())));
  const int64_t r = idx.dim() + 1;
  const int64_t axis = c.axis(c.i("axis", -1), r);
  {
    std::vector<int64_t> out = sizes_of(idx);
    out.insert(out.begin() + axis, depth);
    c.check_size(out, values.dtype());
  }
  const Tensor i = wrap_indices(idx.to(DType::Int64), depth);
  std::vector<int64_t> s(static_cast<size_t>(r), 1);
  s[static_cast<size_t>(axis)] = depth;
  const Tensor hot = eq(i.unsqueeze(axis), arange(Scalar(int64_t{0}), Scalar(depth), Scalar(int64_t{1})).reshape(s));
  const Tensor v = values.reshape({2});
  return {where(hot, v.select(0, 1), v.select(0, 0))};
}
Outs op_eye_like(NodeContext& c) {
  const Tensor& x = c.in(0);
  c.check(x.dim() == 2, concat("input must be 2-D, got ", shape_str(x.sizes())));
  const DType t = c.has_attr("dtype") ? dtype_from_onnx(static_cast<int32_t>(c.i("dtype")), c.describe()) : x.dtype();
  const Tensor rows = arange(Scalar(int64_t{0}), Scalar(x.size(0)), Scalar(int64_t{1})).unsqueeze(1);
  const Tensor cols = arange(Scalar(int64_t{0}), Scalar(x.size(1)), Scalar(int64_t{1})).unsqueeze(0);
  return {eq(sub(cols, rows), Scalar(c.i("k", 0))).to(t)};
}
Outs op_trilu(NodeContext& c) {
  const int64_t k = c.has(1) ? static_cast<int64_t>(c.scalar(1)) : 0;
  return {c.i("upper", 1) ? triu(c.in(0), k) : tril(c.in(0), k)};
}
Outs op_topk(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t k = c.opset() >= 10 ? static_cast<int64_t>(c.scalar(1)) : c.i("k");
  const int64_t axis = c.axis(c.i("axis", -1), x.dim());
  c.check(k >= 0 && k <= x.size(axis), concat("k = ", k, " is out of range for axis ", axis, " of size ", x.size(axis)));
  auto [v, i] = topk(x, k, axis, c.i("largest", 1) != 0, c.i("sorted", 1) != 0);
  return {v, i};
}
Outs op_depth_to_space(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t b = c.i("blocksize");
  c.check(x.dim() == 4 && b >= 1 && x.size(1) % (b * b) == 0,
          concat("needs [N, C, H, W] with C divisible by blocksize^2 (", b, "), got ", shape_str(x.sizes())));
  const int64_t n = x.size(0), ch = x.size(1) / (b * b), h = x.size(2), w = x.size(3);
  if (c.s("mode", "DCR") == "DCR")
    return {x.reshape({n, b, b, ch, h, w}).permute({0, 3, 4, 1, 5, 2}).reshape({n, ch, h * b, w * b})};
  return {x.reshape({n, ch, b, b, h, w}).permute({0, 1, 4, 2, 5, 3}).reshape({n, ch, h * b, w * b})};
}
Outs op_space_to_depth(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t b = c.i("blocksize");
  c.check(x.dim() == 4 && b >= 1 && x.size(2) % b == 0 && x.size(3) % b == 0,
          concat("needs [N, C, H, W] with H and W divisible by blocksize ", b, ", got ", shape_str(x.sizes())));
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2) / b, w = x.size(3) / b;
  return {x.reshape({n, ch, h, b, w, b}).permute({0, 3, 5, 1, 2, 4}).reshape({n, ch * b * b, h, w})};
}
// Data-dependent shapes: the values decide, so these run eagerly only (under compile, the
// tracer refuses the value read, naming the input).
Outs op_nonzero(NodeContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<double> v = x.to_vector<double>();
  const std::vector<int64_t> s = sizes_of(x);
  std::vector<std::vector<int64_t>> coords(s.size());
  int64_t nnz = 0;
  for (size_t flat = 0; flat < v.size(); ++flat) {
    if (v[flat] == 0) continue;
    ++nnz;
    size_t rem = flat;
    for (size_t d = s.size(); d-- > 0;) {
      coords[d].push_back(static_cast<int64_t>(rem % static_cast<size_t>(s[d])));
      rem /= static_cast<size_t>(s[d]);
    }
  }
  std::vector<int64_t> out;
  for (auto& row : coords) out.insert(out.end(), row.begin(), row.end());
  return {tensor<int64_t>(out, {static_cast<int64_t>(s.size()), nnz})};
}
Outs op_compress(NodeContext& c) {
  Tensor x = c.in(0);
  const std::vector<double> cond = c.in(1).to_vector<double>();
  int64_t axis = 0;
  if (c.has_attr("axis")) axis = c.axis(c.i("axis"), x.dim());
  else x = x.reshape({-1});
  c.check(static_cast<int64_t>(cond.size()) <= x.size(axis), "condition is longer than the axis");
  std::vector<int64_t> keep;
  for (size_t i = 0; i < cond.size(); ++i)
    if (cond[i] != 0) keep.push_back(static_cast<int64_t>(i));
  return {index_select(x, axis, i64(keep))};
}

// ---------------------------------------------------------------- losses
// ONNX's NegativeLogLikelihoodLoss: input [N, C, d...], target [N, d...], optional class
// weights, ignore_index; reduction none/sum/mean (mean: divided by the weights' sum).
Tensor nll(NodeContext& c, const Tensor& input, const Tensor& target, const Tensor& weight) {
  const std::string red = c.s("reduction", "mean");
  c.check(red == "none" || red == "sum" || red == "mean", concat("reduction must be none, sum or mean, got '", red, "'"));
  c.check(input.dim() >= 2 && target.dim() == input.dim() - 1,
          concat("input [N, C, ...] and target [N, ...] expected, got ", shape_str(input.sizes()), " and ",
                 shape_str(target.sizes())));
  Tensor t = target.to(DType::Int64);
  Tensor valid = ones(t.sizes(), DType::Bool);
  if (c.has_attr("ignore_index")) {
    valid = ne(t, Scalar(c.i("ignore_index")));
    t = where(valid, t, zeros_like(t));
  }
  Tensor picked = neg(gather(input, 1, t.unsqueeze(1)).squeeze(1));
  Tensor w = weight.defined() ? index_select(weight, 0, t.reshape({-1})).reshape(t.sizes()) : ones_like(picked);
  w = where(valid, w, zeros_like(w));
  Tensor loss = mul(picked, w);
  if (red == "none") return loss;
  if (red == "sum") return sum(loss);
  return div(sum(loss), sum(w));
}
Outs op_nll_loss(NodeContext& c) { return {nll(c, c.in(0), c.in(1), c.has(2) ? c.in(2) : Tensor())}; }
Outs op_softmax_cross_entropy(NodeContext& c) {
  const Tensor lp = log_softmax(c.in(0), 1);
  Outs outs{nll(c, lp, c.in(1), c.has(2) ? c.in(2) : Tensor())};
  if (c.wants_output(1)) outs.push_back(lp);
  return outs;
}

// ---------------------------------------------------------------- resize
// Resize (11+), Resize-10 and Upsample: separable per axis, each output position reading
// n taps of the input (1 nearest, 2 linear, 4 cubic) with weights, as ONNX's reference
// does: the source coordinate from coordinate_transformation_mode, taps clamped to the
// edge, exclude_outside renormalizing, tf_crop_and_resize's outside points set to
// extrapolation_value.
struct ResizeSpec {
  std::string mode = "nearest", ctm = "half_pixel", nearest_mode = "round_prefer_floor";
  double cubic_a = -0.75, extrapolation = 0.0;
  bool exclude_outside = false;
};
Tensor resize_axis(const NodeContext& c, const Tensor& x, int64_t d, int64_t out, double scale, double roi_start,
                   double roi_end, const ResizeSpec& sp) {
  const int64_t in = x.size(d);
  const int taps = sp.mode == "nearest" ? 1 : sp.mode == "linear" ? 2 : 4;
  std::vector<std::vector<int64_t>> idx(static_cast<size_t>(taps), std::vector<int64_t>(static_cast<size_t>(out)));
  std::vector<std::vector<double>> wt(static_cast<size_t>(taps), std::vector<double>(static_cast<size_t>(out)));
  std::vector<uint8_t> outside(static_cast<size_t>(out), 0);
  bool any_outside = false;
  const double out_len = scale * static_cast<double>(in);  // ONNX uses the unrounded length
  for (int64_t o = 0; o < out; ++o) {
    const double od = static_cast<double>(o);
    double xo;
    if (sp.ctm == "half_pixel") xo = (od + 0.5) / scale - 0.5;
    else if (sp.ctm == "pytorch_half_pixel") xo = out_len > 1 ? (od + 0.5) / scale - 0.5 : 0.0;
    else if (sp.ctm == "align_corners") xo = out_len == 1 ? 0.0 : od * static_cast<double>(in - 1) / (out_len - 1);
    else if (sp.ctm == "asymmetric") xo = od / scale;
    else if (sp.ctm == "tf_half_pixel_for_nn") xo = (od + 0.5) / scale;
    else if (sp.ctm == "tf_crop_and_resize")
      xo = out_len > 1 ? roi_start * static_cast<double>(in - 1) +
                             od * (roi_end - roi_start) * static_cast<double>(in - 1) / (out_len - 1)
                       : 0.5 * (roi_start + roi_end) * static_cast<double>(in - 1);
    else c.fail(concat("coordinate_transformation_mode '", sp.ctm, "' is not an ONNX mode"));
    if (sp.ctm == "tf_crop_and_resize" && (xo < 0 || xo > static_cast<double>(in - 1))) {
      outside[static_cast<size_t>(o)] = 1;
      any_outside = true;
    }
    if (taps == 1) {
      double r;
      const double fl = std::floor(xo);
      if (sp.nearest_mode == "round_prefer_floor") r = xo == fl + 0.5 ? fl : std::round(xo);
      else if (sp.nearest_mode == "round_prefer_ceil") r = xo == fl + 0.5 ? fl + 1 : std::round(xo);
      else if (sp.nearest_mode == "floor") r = fl;
      else if (sp.nearest_mode == "ceil") r = std::ceil(xo);
      else c.fail(concat("nearest_mode '", sp.nearest_mode, "' is not an ONNX mode"));
      idx[0][static_cast<size_t>(o)] = std::clamp<int64_t>(static_cast<int64_t>(r), 0, in - 1);
      wt[0][static_cast<size_t>(o)] = 1;
      continue;
    }
    int64_t x0 = static_cast<int64_t>(std::floor(xo));
    double r = xo - static_cast<double>(x0);
    if (r == 0) {  // the reference's convention at integer coordinates (same value)
      x0 -= 1;
      r = 1;
    }
    std::vector<double> w;
    int64_t first;
    if (taps == 2) {
      w = {1 - r, r};
      first = x0;
    } else {
      const double a = sp.cubic_a, s1 = r + 1, s2 = 1 - r, s3 = 2 - r;
      w = {((a * s1 - 5 * a) * s1 + 8 * a) * s1 - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
           ((a + 2) * s2 - (a + 3)) * s2 * s2 + 1, ((a * s3 - 5 * a) * s3 + 8 * a) * s3 - 4 * a};
      first = x0 - 1;
    }
    if (sp.exclude_outside) {
      double total = 0;
      for (int k = 0; k < taps; ++k) {
        const int64_t j = first + k;
        if (j < 0 || j >= in) w[static_cast<size_t>(k)] = 0;
        total += w[static_cast<size_t>(k)];
      }
      if (total != 0)
        for (double& v : w) v /= total;
    }
    for (int k = 0; k < taps; ++k) {
      idx[static_cast<size_t>(k)][static_cast<size_t>(o)] = std::clamp<int64_t>(first + k, 0, in - 1);
      wt[static_cast<size_t>(k)][static_cast<size_t>(o)] = w[static_cast<size_t>(k)];
    }
  }
  std::vector<int64_t> bshape(static_cast<size_t>(x.dim()), 1);
  bshape[static_cast<size_t>(d)] = out;
  const DType ft = is_floating(x.dtype()) ? x.dtype() : DType::Float32;
  Tensor y;
  for (int k = 0; k < taps; ++k) {
    Tensor part = index_select(x, d, i64(idx[static_cast<size_t>(k)]));
    if (taps > 1) part = mul(part.to(ft), tensor<double>(wt[static_cast<size_t>(k)]).to(ft).reshape(bshape));
    y = k == 0 ? part : add(y, part);
  }
  if (any_outside) {
    std::vector<bool> m(outside.begin(), outside.end());
    Tensor mask = tensor<uint8_t>(std::vector<uint8_t>(outside.begin(), outside.end())).to(DType::Bool).reshape(bshape);
    y = where(mask, full({}, scalar_for(sp.extrapolation, y.dtype()), y.dtype()), y);
  }
  return y.to(x.dtype());
}
Tensor resize_impl(const NodeContext& c, const Tensor& x, std::vector<double> scales, std::vector<int64_t> sizes,
                   const std::vector<double>& roi, const ResizeSpec& sp) {
  const size_t r = static_cast<size_t>(x.dim());
  if (sp.mode != "nearest" && sp.mode != "linear" && sp.mode != "cubic")
    c.fail(concat("mode must be nearest, linear or cubic, got '", sp.mode, "'"));
  if (!sizes.empty()) {
    c.check(sizes.size() == r, concat("sizes has ", sizes.size(), " values for rank ", r));
    scales.clear();
    for (size_t d = 0; d < r; ++d) scales.push_back(static_cast<double>(sizes[d]) / static_cast<double>(x.size(static_cast<int64_t>(d))));
  } else {
    c.check(scales.size() == r, concat("scales has ", scales.size(), " values for rank ", r));
    for (size_t d = 0; d < r; ++d) {
      c.check(scales[d] > 0, concat("scales must be > 0, got ", scales[d]));
      sizes.push_back(static_cast<int64_t>(std::floor(static_cast<double>(x.size(static_cast<int64_t>(d))) * scales[d])));
    }
  }
  c.check_size(sizes, x.dtype());
  Tensor y = x;
  for (size_t d = 0; d < r; ++d) {
    const double rs = roi.size() == 2 * r ? roi[d] : 0.0, re = roi.size() == 2 * r ? roi[r + d] : 1.0;
    if (sizes[d] == x.size(static_cast<int64_t>(d)) && scales[d] == 1.0 && sp.ctm != "tf_crop_and_resize") continue;
    y = resize_axis(c, y, static_cast<int64_t>(d), sizes[d], scales[d], rs, re, sp);
  }
  return y;
}
std::vector<double> doubles_of(const NodeContext& c, size_t i) {
  if (!c.has(i) || c.in(i).numel() == 0) return {};
  return c.in(i).to_vector<double>();
}
Outs op_resize(NodeContext& c) {
  const Tensor& x = c.in(0);
  ResizeSpec sp;
  sp.mode = c.s("mode", "nearest");
  if (c.opset() < 11) {
    sp.ctm = "asymmetric";
    sp.nearest_mode = "floor";
    return {resize_impl(c, x, doubles_of(c, 1), {}, {}, sp)};
  }
  sp.ctm = c.s("coordinate_transformation_mode", "half_pixel");
  sp.nearest_mode = c.s("nearest_mode", "round_prefer_floor");
  sp.cubic_a = c.f("cubic_coeff_a", -0.75);
  sp.exclude_outside = c.i("exclude_outside", 0) != 0;
  sp.extrapolation = c.f("extrapolation_value", 0.0);
  if (c.opset() >= 18 && (c.has_attr("axes") || c.s("keep_aspect_ratio_policy", "stretch") != "stretch"))
    c.unsupported("Resize's axes and keep_aspect_ratio_policy (opset 18)");
  if (c.opset() >= 18 && c.i("antialias", 0)) c.unsupported("antialias");
  std::vector<int64_t> sizes;
  if (c.has(3) && c.in(3).numel() > 0) sizes = c.ints(3);
  return {resize_impl(c, x, doubles_of(c, 2), sizes, doubles_of(c, 1), sp)};
}
Outs op_upsample(NodeContext& c) {
  ResizeSpec sp;
  sp.mode = c.s("mode", "nearest");
  sp.ctm = "asymmetric";
  sp.nearest_mode = "floor";
  std::vector<double> scales;
  if (c.opset() >= 9) scales = doubles_of(c, 1);
  else for (float f : c.floats_attr("scales")) scales.push_back(f);
  return {resize_impl(c, c.in(0), scales, {}, {}, sp)};
}

// ---------------------------------------------------------------- windows (opset 17)
template <int Kind>  // 0 Hann, 1 Hamming, 2 Blackman
Outs op_window(NodeContext& c) {
  const int64_t n = static_cast<int64_t>(c.scalar(0));
  c.check(n >= 0, concat("size must be >= 0, got ", n));
  const DType t = dtype_from_onnx(static_cast<int32_t>(c.i("output_datatype", 1)), c.describe() + ": output_datatype");
  c.check_size({n}, DType::Float64);
  const double denom = static_cast<double>(c.i("periodic", 1) ? n : n - 1);
  std::vector<double> w(static_cast<size_t>(n));
  const double pi = 3.14159265358979323846;
  for (int64_t k = 0; k < n; ++k) {
    const double a = 2 * pi * static_cast<double>(k) / denom;
    if (Kind == 0) w[static_cast<size_t>(k)] = 0.5 - 0.5 * std::cos(a);
    else if (Kind == 1) w[static_cast<size_t>(k)] = 25.0 / 46.0 - (1 - 25.0 / 46.0) * std::cos(a);
    else w[static_cast<size_t>(k)] = 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a);
  }
  return {tensor<double>(w).to(t)};
}

// ---------------------------------------------------------------- quantization
// Round half to even, add the zero point, saturate to the output type (uint8 or int8).
Tensor quantize(const NodeContext& c, const Tensor& x, const Tensor& scale, const Tensor& zp, DType out, int64_t axis) {
  std::vector<int64_t> bs(static_cast<size_t>(x.dim()), 1);
  Tensor sc = scale, z = zp;
  if (scale.numel() > 1) {
    bs[static_cast<size_t>(axis)] = scale.numel();
    sc = scale.reshape(bs);
    if (z.defined()) z = z.reshape(bs);
  }
  const double lo = out == DType::UInt8 ? 0 : -128, hi = out == DType::UInt8 ? 255 : 127;
  Tensor q = round(div(x.to(DType::Float32), sc.to(DType::Float32)));
  if (z.defined()) q = add(q, z.to(DType::Float32));
  return clamp(q, Scalar(lo), Scalar(hi)).to(out);
}
Outs op_quantize_linear(NodeContext& c) {
  const Tensor& x = c.in(0);
  const DType out = c.has(2) ? c.in(2).dtype() : DType::UInt8;
  c.check(out == DType::UInt8 || out == DType::Int8, concat("the zero point must be uint8 or int8, got ", dtype_name(out)));
  // The axis matters (and must be in range) only for a per-axis scale.
  const int64_t axis = c.in(1).numel() > 1 ? c.axis(c.i("axis", 1), x.dim()) : 0;
  return {quantize(c, x, c.in(1), c.has(2) ? c.in(2) : Tensor(), out, axis)};
}
Outs op_dequantize_linear(NodeContext& c) {
  const Tensor& x = c.in(0);
  Tensor sc = c.in(1), z = c.has(2) ? c.in(2) : Tensor();
  if (sc.numel() > 1) {
    std::vector<int64_t> bs(static_cast<size_t>(x.dim()), 1);
    bs[static_cast<size_t>(c.axis(c.i("axis", 1), x.dim()))] = sc.numel();
    sc = sc.reshape(bs);
    if (z.defined()) z = z.reshape(bs);
  }
  Tensor v = x.to(DType::Float32);
  if (z.defined()) v = sub(v, z.to(DType::Float32));
  return {mul(v, sc)};
}
Outs op_dynamic_quantize_linear(NodeContext& c) {
  const Tensor& x = c.in(0);
  const Tensor lo = minimum(amin(x), zeros({}, x.dtype())), hi = maximum(amax(x), zeros({}, x.dtype()));
  const Tensor scale = div(sub(hi, lo), Scalar(255.0));
  const Tensor zp = clamp(round(sub(zeros_like(lo), div(lo, scale))), Scalar(0.0), Scalar(255.0)).to(DType::UInt8);
  return {quantize(c, x, scale, zp, DType::UInt8, 0), scale, zp};
}
// Integer ops on uint8/int8 with zero points: exact in float64 (products of 8-bit values
// summed stay far below 2^53).
Tensor minus_zp(const Tensor& x, const Tensor& zp, int64_t channel_axis = -1) {
  Tensor v = x.to(DType::Float64);
  if (!zp.defined()) return v;
  Tensor z = zp.to(DType::Float64);
  if (z.numel() > 1 && channel_axis >= 0) {
    std::vector<int64_t> bs(static_cast<size_t>(x.dim()), 1);
    bs[static_cast<size_t>(channel_axis)] = z.numel();
    z = z.reshape(bs);
  }
  return sub(v, z);
}
Outs op_matmul_integer(NodeContext& c) {
  Tensor b_zp = c.has(3) ? c.in(3) : Tensor();
  Tensor a = minus_zp(c.in(0), c.has(2) ? c.in(2) : Tensor(), c.in(0).dim() - 2);
  Tensor b = minus_zp(c.in(1), b_zp, c.in(1).dim() - 1);
  return {matmul(a, b).to(DType::Int32)};
}
Outs op_conv_integer(NodeContext& c) {
  std::vector<Tensor> ins{minus_zp(c.in(0), c.has(2) ? c.in(2) : Tensor()),
                          minus_zp(c.in(1), c.has(3) ? c.in(3) : Tensor(), 0)};
  NodeContext inner(c.node(), c.opset(), ins, c.limits());
  inner.node_index = c.node_index;
  return {op_conv(inner)[0].to(DType::Int32)};
}
Outs op_qlinear_matmul(NodeContext& c) {
  const Tensor a = mul(minus_zp(c.in(0), c.in(2), c.in(0).dim() - 2), c.in(1).to(DType::Float64));
  const Tensor b = mul(minus_zp(c.in(3), c.in(5), c.in(3).dim() - 1), c.in(4).to(DType::Float64));
  const Tensor y = matmul(a, b);
  return {quantize(c, y, c.in(6).to(DType::Float64), c.in(7), c.in(7).dtype(), 0)};
}
Outs op_qlinear_conv(NodeContext& c) {
  const Tensor xf = mul(minus_zp(c.in(0), c.in(2)), c.in(1).to(DType::Float64));
  Tensor ws = c.in(4).to(DType::Float64);
  if (ws.numel() > 1) ws = ws.reshape({-1, 1, 1, 1});
  const Tensor wf = mul(minus_zp(c.in(3), c.in(5), 0), ws);
  std::vector<Tensor> ins{xf, wf};
  if (c.has(8)) ins.push_back(mul(c.in(8).to(DType::Float64), mul(c.in(1).to(DType::Float64), c.in(4).to(DType::Float64))));
  NodeContext inner(c.node(), c.opset(), ins, c.limits());
  inner.node_index = c.node_index;
  const Tensor y = op_conv(inner)[0];
  return {quantize(c, y, c.in(6).to(DType::Float64), c.in(7), c.in(7).dtype(), 1)};
}

// ---------------------------------------------------------------- bit shifts, sequences
Outs op_bit_shift(NodeContext& c) {
  const Tensor &x = c.in(0), &y = c.in(1);
  c.check(x.dtype() == DType::UInt8, concat("Tessera's unsigned type is uint8, got ", dtype_name(x.dtype())));
  const Tensor p = pow(full({}, Scalar(int64_t{2}), DType::Int64), y.to(DType::Int64));
  const std::string dir = c.s("direction");
  if (dir == "LEFT") return {remainder(mul(x.to(DType::Int64), p), Scalar(int64_t{256})).to(DType::UInt8)};
  if (dir == "RIGHT") return {floor_divide(x.to(DType::Int64), p).to(DType::UInt8)};
  c.fail(concat("direction must be LEFT or RIGHT, got '", dir, "'"));
}
Outs op_reverse_sequence(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t batch_axis = c.i("batch_axis", 1), time_axis = c.i("time_axis", 0);
  c.check((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0),
          "batch_axis and time_axis must be 0 and 1");
  const std::vector<int64_t> lens = c.ints(1);
  const int64_t batch = x.size(batch_axis), steps = x.size(time_axis);
  c.check(static_cast<int64_t>(lens.size()) == batch, concat("sequence_lens has ", lens.size(), " values for ", batch, " sequences"));
  // Source time index per (time, batch): reversed within each sequence's length.
  std::vector<int64_t> src;
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = std::clamp<int64_t>(lens[static_cast<size_t>(b)], 0, steps);
      src.push_back(t < len ? len - 1 - t : t);
    }
  std::vector<int64_t> is(static_cast<size_t>(x.dim()), 1);
  is[static_cast<size_t>(time_axis)] = steps;
  is[static_cast<size_t>(batch_axis)] = batch;
  Tensor idx = tensor<int64_t>(src, {steps, batch});
  if (time_axis == 1) idx = idx.transpose(0, 1);
  idx = idx.contiguous().reshape(is).expand(x.sizes()).contiguous();
  return {gather(x, time_axis, idx)};
}

// ---------------------------------------------------------------- einsum
// Broadcast-multiply the operands over all letters, then sum the letters the output does
// not keep. Memory is the product of all letters' sizes: fine for the contractions ONNX
// models use between small operands; a repeated letter within one operand (a diagonal)
// is not supported.
Outs op_einsum(NodeContext& c) {
  std::string eq = c.s("equation");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  if (eq.find("...") != std::string::npos) c.unsupported("ellipsis ('...') in an Einsum equation");
  const size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow), rhs;
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  c.check(terms.size() == c.num_inputs(), concat("the equation has ", terms.size(), " operands, the node ", c.num_inputs()));
  std::string letters;
  std::map<char, int> count;
  for (const std::string& t : terms) {
    std::set<char> seen;
    for (char ch : t) {
      c.check(std::isalpha(static_cast<unsigned char>(ch)), concat("bad equation '", eq, "'"));
      if (!seen.insert(ch).second) c.unsupported(concat("a repeated index ('", ch, "') within one Einsum operand"));
      if (letters.find(ch) == std::string::npos) letters += ch;
      ++count[ch];
    }
  }
  if (arrow != std::string::npos) {
    rhs = eq.substr(arrow + 2);
  } else {  // implicit: the letters seen once, in alphabetical order
    for (const auto& [ch, n] : count) if (n == 1) rhs += ch;
  }
  Tensor prod_all;
  std::map<char, int64_t> size;
  for (size_t k = 0; k < terms.size(); ++k)
    for (size_t j = 0; j < terms[k].size() && static_cast<int64_t>(j) < c.in(k).dim(); ++j)
      size[terms[k][j]] = c.in(k).size(static_cast<int64_t>(j));
  {
    std::vector<int64_t> all;  // the broadcast product holds every letter
    for (char ch : letters) all.push_back(size[ch]);
    c.check_size(all, c.in(0).dtype());
  }
  for (size_t k = 0; k < terms.size(); ++k) {
    const Tensor& x = c.in(k);
    c.check(static_cast<int64_t>(terms[k].size()) == x.dim(),
            concat("operand ", k, " ('", terms[k], "') has rank ", x.dim()));
    std::vector<int64_t> perm, shape;
    for (char ch : letters) {
      const size_t at = terms[k].find(ch);
      if (at != std::string::npos) {
        perm.push_back(static_cast<int64_t>(at));
        size[ch] = x.size(static_cast<int64_t>(at));
      }
    }
    Tensor p = x.permute(perm);
    for (char ch : letters) shape.push_back(terms[k].find(ch) != std::string::npos ? size[ch] : 1);
    p = p.reshape(shape);
    prod_all = k == 0 ? p : mul(prod_all, p);
  }
  std::vector<int64_t> reduce_dims;
  std::string kept;
  for (size_t i = 0; i < letters.size(); ++i) {
    if (rhs.find(letters[i]) == std::string::npos) reduce_dims.push_back(static_cast<int64_t>(i));
    else kept += letters[i];
  }
  Tensor y = reduce_dims.empty() ? prod_all : sum(prod_all, reduce_dims);
  std::vector<int64_t> perm;
  for (char ch : rhs) {
    const size_t at = kept.find(ch);
    c.check(at != std::string::npos, concat("output index '", ch, "' is in no operand"));
    perm.push_back(static_cast<int64_t>(at));
  }
  return {y.permute(perm).contiguous().to(c.in(0).dtype())};
}

// ---------------------------------------------------------------- recurrent layers
// RNN, GRU and LSTM as ONNX defines them (gate orders: LSTM i, o, f, c; GRU z, r, h),
// unrolled over the sequence with matmuls; sequence_lens masks the steps past each
// sequence's end (state held, outputs zero); reverse directions run on each sequence
// reversed within its length.
enum class Cell { Rnn, Gru, Lstm };
struct Act {
  std::string name;
  double alpha = 0, beta = 0;
  Tensor operator()(const Tensor& x) const {
    if (name == "Sigmoid") return sigmoid(x);
    if (name == "Tanh") return tanh(x);
    if (name == "Relu") return relu(x);
    if (name == "LeakyRelu") return F::leaky_relu(x, alpha);
    if (name == "HardSigmoid") return clamp(add(mul(x, Scalar(alpha)), Scalar(beta)), Scalar(0.0), Scalar(1.0));
    if (name == "Affine") return add(mul(x, Scalar(alpha)), Scalar(beta));
    if (name == "ScaledTanh") return mul(tanh(mul(x, Scalar(beta))), Scalar(alpha));
    if (name == "ThresholdedRelu") return where(gt(x, Scalar(alpha)), x, zeros_like(x));
    if (name == "Elu") return where(gt(x, Scalar(0.0)), x, mul(expm1(x), Scalar(alpha)));
    if (name == "Softsign") return div(x, add(abs(x), Scalar(1.0)));
    if (name == "Softplus") return softplus(x);
    return Tensor();
  }
};
// Reverses each batch entry's first len steps along dim 0 ([seq, batch, ...]).
Tensor reverse_steps(const Tensor& x, const std::vector<int64_t>& lens) {
  if (lens.empty()) return flip(x, {0});
  const int64_t steps = x.size(0), batch = x.size(1);
  std::vector<int64_t> src;
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = std::clamp<int64_t>(lens[static_cast<size_t>(b)], 0, steps);
      src.push_back(t < len ? len - 1 - t : t);
    }
  std::vector<int64_t> shape{steps, batch};
  for (int64_t d = 2; d < x.dim(); ++d) shape.push_back(1);
  Tensor idx = tensor<int64_t>(src, {steps, batch}).reshape(shape).expand(x.sizes()).contiguous();
  return gather(x, 0, idx);
}
template <Cell K>
Outs op_recurrent(NodeContext& c) {
  const int gates = K == Cell::Rnn ? 1 : K == Cell::Gru ? 3 : 4;
  const int n_acts = K == Cell::Rnn ? 1 : K == Cell::Gru ? 2 : 3;
  const bool batch_first = c.opset() >= 14 && c.i("layout", 0) != 0;
  Tensor x = c.in(0);
  if (batch_first) x = x.transpose(0, 1);
  c.check(x.dim() == 3, concat("X must be 3-D, got ", shape_str(x.sizes())));
  const Tensor &w = c.in(1), &rw = c.in(2);
  const std::string direction = c.s("direction", "forward");
  const int dirs = direction == "bidirectional" ? 2 : 1;
  c.check(direction == "forward" || direction == "reverse" || direction == "bidirectional",
          concat("direction must be forward, reverse or bidirectional, got '", direction, "'"));
  const int64_t hidden = c.has_attr("hidden_size") ? c.i("hidden_size") : rw.size(-1);
  const int64_t steps = x.size(0), batch = x.size(1);
  c.check(w.dim() == 3 && w.size(0) == dirs && w.size(1) == gates * hidden,
          concat("W must be [", dirs, ", ", gates * hidden, ", input], got ", shape_str(w.sizes())));
  if (K == Cell::Lstm && c.i("input_forget", 0)) c.unsupported("input_forget");
  std::vector<Act> acts;
  {
    const auto* a = c.attr("activations");
    std::vector<std::string> names;
    if (a) for (const auto& n : a->strings()) names.push_back(n);
    const std::vector<float> alphas = c.floats_attr("activation_alpha"), betas = c.floats_attr("activation_beta");
    const char* defaults[3] = {K == Cell::Rnn ? "Tanh" : "Sigmoid", "Tanh", "Tanh"};
    for (int i = 0; i < n_acts * dirs; ++i) {
      Act act;
      act.name = i < static_cast<int>(names.size()) ? names[static_cast<size_t>(i)] : defaults[i % n_acts];
      act.alpha = i < static_cast<int>(alphas.size()) ? alphas[static_cast<size_t>(i)] : (act.name == "LeakyRelu" ? 0.01 : act.name == "HardSigmoid" ? 0.2 : 1.0);
      act.beta = i < static_cast<int>(betas.size()) ? betas[static_cast<size_t>(i)] : (act.name == "HardSigmoid" ? 0.5 : 0.0);
      if (!act(zeros({1})).defined()) c.unsupported(concat("activation '", act.name, "'"));
      acts.push_back(act);
    }
  }
  const double clip = c.f("clip", 0.0);
  std::vector<int64_t> lens;
  if (c.has(4)) lens = c.ints(4);
  auto get = [&](size_t i) { return c.has(i) ? c.in(i) : Tensor(); };
  Tensor h0 = get(5), c0 = K == Cell::Lstm ? get(6) : Tensor(), peep = K == Cell::Lstm ? get(7) : Tensor();
  if (batch_first) {
    if (h0.defined()) h0 = h0.transpose(0, 1);
    if (c0.defined()) c0 = c0.transpose(0, 1);
  }
  const bool lbr = K == Cell::Gru && c.i("linear_before_reset", 0) != 0;
  Tensor mask;  // [seq, batch, 1]: step t is inside sequence b
  if (!lens.empty()) {
    std::vector<uint8_t> m;
    for (int64_t t = 0; t < steps; ++t)
      for (int64_t b = 0; b < batch; ++b) m.push_back(t < lens[static_cast<size_t>(b)]);
    mask = tensor<uint8_t>(m, {steps, batch, 1}).to(DType::Bool);
  }
  std::vector<Tensor> ys, hs, cs;
  for (int d = 0; d < dirs; ++d) {
    const bool rev = direction == "reverse" || d == 1;
    const Tensor wd = w.select(0, d), rd = rw.select(0, d);
    Tensor bias_w, bias_r;
    if (c.has(3)) {
      bias_w = c.in(3).select(0, d).slice(0, 0, gates * hidden);
      bias_r = c.in(3).select(0, d).slice(0, gates * hidden, 2 * gates * hidden);
    }
    const Tensor xs = rev ? reverse_steps(x, lens) : x;
    // The input projections of all steps at once: [seq, batch, gates * hidden].
    Tensor xw = matmul(xs, wd.transpose(0, 1));
    if (bias_w.defined()) xw = add(xw, bias_w);
    Tensor h = h0.defined() ? h0.select(0, d) : zeros({batch, hidden}, x.dtype());
    Tensor cell = c0.defined() ? c0.select(0, d) : zeros({batch, hidden}, x.dtype());
    const Act* a = &acts[static_cast<size_t>(d * n_acts)];
    auto clipped = [&](const Tensor& v) { return clip > 0 ? clamp(v, Scalar(-clip), Scalar(clip)) : v; };
    auto gate = [&](const Tensor& v, int g) { return v.slice(-1, g * hidden, (g + 1) * hidden); };
    std::vector<Tensor> outs;
    for (int64_t t = 0; t < steps; ++t) {
      const Tensor xt = xw.select(0, t);
      Tensor hn, cn;
      if (K == Cell::Rnn) {
        Tensor v = add(xt, matmul(h, rd.transpose(0, 1)));
        if (bias_r.defined()) v = add(v, bias_r);
        hn = a[0](clipped(v));
      } else if (K == Cell::Gru) {
        auto rows = [&](int g) { return rd.slice(0, g * hidden, (g + 1) * hidden); };
        Tensor hr = matmul(h, rows(0).transpose(0, 1)), rr = matmul(h, rows(1).transpose(0, 1));
        Tensor zb = gate(xt, 0), rb = gate(xt, 1), hb = gate(xt, 2);
        if (bias_r.defined()) {
          hr = add(hr, gate(bias_r, 0));
          rr = add(rr, gate(bias_r, 1));
        }
        const Tensor z = a[0](clipped(add(zb, hr))), r = a[0](clipped(add(rb, rr)));
        Tensor hh;
        const Tensor rh = rd.slice(0, 2 * hidden, 3 * hidden);
        if (lbr) {
          Tensor lin = matmul(h, rh.transpose(0, 1));
          if (bias_r.defined()) lin = add(lin, gate(bias_r, 2));
          hh = a[1](clipped(add(hb, mul(r, lin))));
        } else {
          Tensor lin = matmul(mul(r, h), rh.transpose(0, 1));
          if (bias_r.defined()) lin = add(lin, gate(bias_r, 2));
          hh = a[1](clipped(add(hb, lin)));
        }
        hn = add(mul(sub(ones_like(z), z), hh), mul(z, h));
      } else {
        Tensor v = add(xt, matmul(h, rd.transpose(0, 1)));
        if (bias_r.defined()) v = add(v, bias_r);
        Tensor vi = gate(v, 0), vo = gate(v, 1), vf = gate(v, 2), vc = gate(v, 3);
        if (peep.defined()) {
          const Tensor pd = peep.select(0, d);
          vi = add(vi, mul(pd.slice(0, 0, hidden), cell));
          vf = add(vf, mul(pd.slice(0, 2 * hidden, 3 * hidden), cell));
        }
        const Tensor i = a[0](clipped(vi)), f = a[0](clipped(vf)), g = a[1](clipped(vc));
        cn = add(mul(f, cell), mul(i, g));
        if (peep.defined()) vo = add(vo, mul(peep.select(0, d).slice(0, hidden, 2 * hidden), cn));
        const Tensor o = a[0](clipped(vo));
        hn = mul(o, a[2](cn));
      }
      if (mask.defined()) {
        const Tensor m = mask.select(0, t);
        h = where(m, hn, h);
        if (K == Cell::Lstm) cell = where(m, cn, cell);
        outs.push_back(where(m, hn, zeros_like(hn)));
      } else {
        h = hn;
        if (K == Cell::Lstm) cell = cn;
        outs.push_back(hn);
      }
    }
    Tensor y = stack(outs, 0);  // [seq, batch, hidden]
    if (rev) y = reverse_steps(y, lens);
    ys.push_back(y);
    hs.push_back(h);
    cs.push_back(cell);
  }
  Tensor y = stack(ys, 1);  // [seq, dirs, batch, hidden]
  Tensor yh = stack(hs, 0), yc = stack(cs, 0);
  if (batch_first) {
    y = y.permute({2, 0, 1, 3}).contiguous();
    yh = yh.transpose(0, 1).contiguous();
    yc = yc.transpose(0, 1).contiguous();
  }
  Outs outs{y, yh};
  if (K == Cell::Lstm) outs.push_back(yc);
  return outs;
}

// ---------------------------------------------------------------- pooling with indices
// MaxPool's Indices output: every window offset's shifted view of the -inf padded input is
// stacked, argmax picks the first maximum, and the index into the flattened (unpadded)
// input is computed from the offset, as ONNX defines it (storage_order 0: row-major).
Outs max_pool_with_indices(NodeContext& c, Tensor x, Window w, bool lifted) {
  const bool column_major = c.i("storage_order", 0) != 0;
  if (c.i("ceil_mode", 0)) c.unsupported("ceil_mode with the Indices output");
  const DType in_type = x.dtype();
  if (!is_floating(in_type)) x = x.to(DType::Float64);
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2), wd = x.size(3);
  const Tensor xp = pad_constant(x, zero_prefix(w.pad_begin, 2), zero_prefix(w.pad_end, 2),
                                 -std::numeric_limits<double>::infinity());
  const int64_t oh = (xp.size(2) - ((w.kernel[0] - 1) * w.dilations[0] + 1)) / w.strides[0] + 1;
  const int64_t ow = (xp.size(3) - ((w.kernel[1] - 1) * w.dilations[1] + 1)) / w.strides[1] + 1;
  c.check(oh >= 1 && ow >= 1, "the pooling window is larger than the padded input");
  std::vector<Tensor> views, offsets;
  for (int64_t kh = 0; kh < w.kernel[0]; ++kh)
    for (int64_t kw = 0; kw < w.kernel[1]; ++kw) {
      const int64_t r0 = kh * w.dilations[0], c0 = kw * w.dilations[1];
      views.push_back(xp.slice(2, r0, r0 + (oh - 1) * w.strides[0] + 1, w.strides[0])
                          .slice(3, c0, c0 + (ow - 1) * w.strides[1] + 1, w.strides[1]));
      std::vector<int64_t> flat;  // [oh, ow]: the input position this offset reads
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j)
        {
          const int64_t row = i * w.strides[0] + r0 - w.pad_begin[0], col = j * w.strides[1] + c0 - w.pad_begin[1];
          flat.push_back(column_major ? col * h + row : row * wd + col);
        }
      offsets.push_back(tensor<int64_t>(flat, {oh, ow}));
    }
  const Tensor stacked = stack(views, 0);      // [K, N, C, OH, OW]
  const Tensor pick = argmax(stacked, 0, true);  // first maximum
  const Tensor values = gather(stacked, 0, pick).squeeze(0).to(in_type);
  const Tensor pos = gather(stack(offsets, 0).reshape({-1, 1, 1, oh, ow}).expand({static_cast<int64_t>(offsets.size()), n, ch, oh, ow}).contiguous(), 0, pick).squeeze(0);
  const Tensor base = mul(add(mul(arange(Scalar(int64_t{0}), Scalar(n), Scalar(int64_t{1})).reshape({n, 1, 1, 1}), Scalar(ch)),
                              arange(Scalar(int64_t{0}), Scalar(ch), Scalar(int64_t{1})).reshape({1, ch, 1, 1})),
                          Scalar(h * wd));
  Tensor idx = add(pos, base);
  if (lifted) return {values.squeeze(2), idx.squeeze(2)};
  return {values, idx};
}
Outs op_max_unpool(NodeContext& c) {
  const Tensor &x = c.in(0), &idx = c.in(1);
  c.check(x.dim() >= 3, concat("X must be [N, C, ...], got ", shape_str(x.sizes())));
  const size_t spatial = static_cast<size_t>(x.dim()) - 2;
  const std::vector<int64_t> k = c.ints_attr("kernel_shape");
  const std::vector<int64_t> st = c.ints_attr_opt("strides").value_or(std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> pb, pe;
  split_pads(c, c.ints_attr_opt("pads").value_or(std::vector<int64_t>(2 * spatial, 0)), spatial, pb, pe);
  c.check(k.size() == spatial && st.size() == spatial, concat("kernel_shape and strides need ", spatial, " values"));
  // The indices address the pooled input's default shape; a larger output_shape adds
  // zeros at the end of each spatial dim (as ONNX's reference does).
  std::vector<int64_t> out{x.size(0), x.size(1)};
  for (size_t i = 0; i < spatial; ++i)
    out.push_back((x.size(static_cast<int64_t>(2 + i)) - 1) * st[i] + k[i] - pb[i] - pe[i]);
  c.check_size(out, x.dtype());
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  const Tensor flat_idx = idx.reshape({-1}).to(DType::Int64);
  Tensor y = scatter(zeros({total}, x.dtype()), 0, flat_idx, x.reshape({-1})).reshape(out);
  if (c.has(2)) {
    const std::vector<int64_t> want = c.ints(2);
    c.check(want.size() == spatial + 2, concat("output_shape must have ", spatial + 2, " values"));
    c.check_size(want, x.dtype());
    std::vector<int64_t> before(out.size(), 0), after(out.size(), 0);
    for (size_t i = 0; i < out.size(); ++i) {
      c.check(want[i] >= out[i], concat("output_shape ", shape_str(want), " is smaller than the unpooled ", shape_str(out)));
      after[i] = want[i] - out[i];
    }
    y = pad_constant(y, before, after, 0.0);
  }
  return {y};
}

// ---------------------------------------------------------------- host algorithms
// Unique and NonMaxSuppression decide their output sizes from the values: eager only.
Outs op_unique(NodeContext& c) {
  Tensor x = c.in(0);
  const bool sorted_out = c.i("sorted", 1) != 0;
  int64_t axis = 0;
  if (c.has_attr("axis")) axis = c.axis(c.i("axis"), x.dim());
  else x = x.reshape({-1});
  const int64_t n = x.size(axis);
  // Each slice along the axis as a row of values.
  std::vector<int64_t> perm{axis};
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != axis) perm.push_back(d);
  const Tensor rows = x.permute(perm).contiguous().reshape({n, -1});
  const std::vector<double> v = rows.to_vector<double>();
  const int64_t width = n ? static_cast<int64_t>(v.size()) / n : 0;
  // A total order on rows (NaN after every number and equal to NaN), so sorting is
  // well defined on any values.
  auto cmp = [](double a, double b) {
    const bool na = std::isnan(a), nb = std::isnan(b);
    if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
    return a < b ? -1 : (a > b ? 1 : 0);
  };
  auto row_cmp = [&](int64_t a, int64_t b) {
    for (int64_t k = 0; k < width; ++k)
      if (const int r = cmp(v[static_cast<size_t>(a * width + k)], v[static_cast<size_t>(b * width + k)])) return r;
    return 0;
  };
  auto row_less = [&](int64_t a, int64_t b) { return row_cmp(a, b) < 0; };
  auto row_eq = [&](int64_t a, int64_t b) { return row_cmp(a, b) == 0; };
  // Sorted (stably, so the first of equal rows is its first occurrence), then grouped.
  std::vector<int64_t> by_value(static_cast<size_t>(n));
  std::iota(by_value.begin(), by_value.end(), 0);
  std::stable_sort(by_value.begin(), by_value.end(), row_less);
  std::vector<int64_t> first;  // first occurrence of each distinct row, in value order
  std::vector<int64_t> inverse(static_cast<size_t>(n));
  for (size_t k = 0; k < by_value.size(); ++k) {
    if (k == 0 || !row_eq(by_value[k - 1], by_value[k])) first.push_back(by_value[k]);
    inverse[static_cast<size_t>(by_value[k])] = static_cast<int64_t>(first.size()) - 1;
  }
  // Unsorted output: the distinct rows in order of first appearance.
  if (!sorted_out) {
    std::vector<int64_t> by_first(first.size());
    std::iota(by_first.begin(), by_first.end(), 0);
    std::sort(by_first.begin(), by_first.end(),
              [&](int64_t a, int64_t b) { return first[static_cast<size_t>(a)] < first[static_cast<size_t>(b)]; });
    std::vector<int64_t> new_pos(first.size()), reordered;
    for (size_t r = 0; r < by_first.size(); ++r) {
      new_pos[static_cast<size_t>(by_first[r])] = static_cast<int64_t>(r);
      reordered.push_back(first[static_cast<size_t>(by_first[r])]);
    }
    for (int64_t& v2 : inverse) v2 = new_pos[static_cast<size_t>(v2)];
    first = reordered;
  }
  std::vector<int64_t> counts(first.size(), 0);
  for (int64_t i : inverse) ++counts[static_cast<size_t>(i)];
  return {index_select(x, axis, i64(first)), i64(first), i64(inverse), i64(counts)};
}
Outs op_nms(NodeContext& c) {
  const Tensor &boxes = c.in(0), &scores = c.in(1);
  c.check(boxes.dim() == 3 && boxes.size(2) == 4 && scores.dim() == 3 && scores.size(0) == boxes.size(0) &&
              scores.size(2) == boxes.size(1),
          concat("boxes [B, N, 4] and scores [B, C, N] expected, got ", shape_str(boxes.sizes()), " and ",
                 shape_str(scores.sizes())));
  const int64_t max_out = c.has(2) && c.in(2).numel() ? static_cast<int64_t>(c.scalar(2)) : 0;
  const double iou_th = c.has(3) && c.in(3).numel() ? c.scalar(3) : 0.0;
  const bool has_score_th = c.has(4) && c.in(4).numel();
  const double score_th = has_score_th ? c.scalar(4) : 0.0;
  const bool center = c.i("center_point_box", 0) != 0;
  const int64_t nb = boxes.size(0), nboxes = boxes.size(1), ncls = scores.size(1);
  const std::vector<double> bx = boxes.to_vector<double>(), sc = scores.to_vector<double>();
  auto corners = [&](int64_t b, int64_t i) {
    const double* p = &bx[static_cast<size_t>((b * nboxes + i) * 4)];
    if (center) return std::array<double, 4>{p[1] - p[3] / 2, p[0] - p[2] / 2, p[1] + p[3] / 2, p[0] + p[2] / 2};
    return std::array<double, 4>{std::min(p[0], p[2]), std::min(p[1], p[3]), std::max(p[0], p[2]), std::max(p[1], p[3])};
  };
  auto iou = [&](const std::array<double, 4>& a, const std::array<double, 4>& b) {
    const double ih = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
    const double iw = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
    const double inter = ih * iw;
    const double uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return uni > 0 ? inter / uni : 0.0;
  };
  std::vector<int64_t> out;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t k = 0; k < ncls; ++k) {
      std::vector<int64_t> cand;
      for (int64_t i = 0; i < nboxes; ++i) {
        const double s = sc[static_cast<size_t>((b * ncls + k) * nboxes + i)];
        if (!std::isnan(s) && (!has_score_th || s > score_th)) cand.push_back(i);
      }
      std::stable_sort(cand.begin(), cand.end(), [&](int64_t i, int64_t j) {
        return sc[static_cast<size_t>((b * ncls + k) * nboxes + i)] > sc[static_cast<size_t>((b * ncls + k) * nboxes + j)];
      });
      std::vector<int64_t> kept;
      for (int64_t i : cand) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool keep = true;
        for (int64_t j : kept)
          if (iou(corners(b, i), corners(b, j)) > iou_th) {
            keep = false;
            break;
          }
        if (keep) kept.push_back(i);
      }
      for (int64_t i : kept) out.insert(out.end(), {b, k, i});
    }
  return {tensor<int64_t>(out, {static_cast<int64_t>(out.size() / 3), 3})};
}

// ---------------------------------------------------------------- GridSample (opset 16)
// PyTorch's grid_sample, which ONNX's definition follows: grid coordinates in [-1, 1]
// unnormalized per align_corners, the padding mode applied to coordinates (border clamps,
// reflection reflects), and taps read with gather, zero outside the input. Written with
// ops, so it runs compiled too (the grid is data).
Tensor gs_unnormalize(const Tensor& g, int64_t size, bool align) {
  const double sz = static_cast<double>(size);
  return align ? mul(add(g, Scalar(1.0)), Scalar((sz - 1) / 2)) : div(sub(mul(add(g, Scalar(1.0)), Scalar(sz)), Scalar(1.0)), Scalar(2.0));
}
Tensor gs_reflect(const Tensor& x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return zeros_like(x);
  const double lo = twice_low / 2, span = (twice_high - twice_low) / 2;
  const Tensor in = abs(sub(x, Scalar(lo)));
  const Tensor flips = floor(div(in, Scalar(span)));
  const Tensor extra = sub(in, mul(flips, Scalar(span)));
  const Tensor even = eq(remainder(flips, Scalar(2.0)), Scalar(0.0));
  return where(even, add(extra, Scalar(lo)), add(sub(full_like(extra, Scalar(span)), extra), Scalar(lo)));
}
Tensor gs_pad(const Tensor& x, int64_t size, const std::string& mode, bool align) {
  const double hi = static_cast<double>(size - 1);
  if (mode == "border") return clamp(x, Scalar(0.0), Scalar(hi));
  if (mode == "reflection") {
    const Tensor r = align ? gs_reflect(x, 0, 2 * hi) : gs_reflect(x, -1, 2 * static_cast<double>(size) - 1);
    return clamp(r, Scalar(0.0), Scalar(hi));
  }
  return x;
}
// Values of x [N, C, H, W] at integer positions (ix, iy) [N, Ho, Wo]; zero outside.
Tensor gs_read(const Tensor& x, const Tensor& ix, const Tensor& iy) {
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t ho = ix.size(1), wo = ix.size(2);
  const Tensor xi = ix.to(DType::Int64), yi = iy.to(DType::Int64);
  const Tensor valid = logical_and(logical_and(ge(xi, Scalar(int64_t{0})), lt(xi, Scalar(w))),
                                   logical_and(ge(yi, Scalar(int64_t{0})), lt(yi, Scalar(h))));
  const Tensor flat = add(mul(clamp(yi, Scalar(int64_t{0}), Scalar(h - 1)), Scalar(w)), clamp(xi, Scalar(int64_t{0}), Scalar(w - 1)));
  const Tensor idx = flat.reshape({n, 1, ho * wo}).expand({n, ch, ho * wo}).contiguous();
  const Tensor v = gather(x.reshape({n, ch, h * w}), 2, idx).reshape({n, ch, ho, wo});
  return where(valid.unsqueeze(1), v, zeros_like(v));
}
Outs op_grid_sample(NodeContext& c) {
  const Tensor &x = c.in(0), &grid = c.in(1);
  c.check(x.dim() == 4 && grid.dim() == 4 && grid.size(0) == x.size(0) && grid.size(3) == 2,
          concat("X [N, C, H, W] and grid [N, Ho, Wo, 2] expected, got ", shape_str(x.sizes()), " and ",
                 shape_str(grid.sizes())));
  std::string mode = c.s("mode", "bilinear");
  if (mode == "linear") mode = "bilinear";
  if (mode == "cubic") mode = "bicubic";
  const std::string pad = c.s("padding_mode", "zeros");
  c.check(pad == "zeros" || pad == "border" || pad == "reflection",
          concat("padding_mode must be zeros, border or reflection, got '", pad, "'"));
  const bool align = c.i("align_corners", 0) != 0;
  const int64_t h = x.size(2), w = x.size(3);
  const DType ft = is_floating(x.dtype()) ? x.dtype() : DType::Float32;
  const Tensor xf = x.to(ft);
  const Tensor gx = grid.select(-1, 0).to(DType::Float64), gy = grid.select(-1, 1).to(DType::Float64);
  Tensor ix = gs_unnormalize(gx, w, align), iy = gs_unnormalize(gy, h, align);
  auto weight = [&](const Tensor& t) { return t.to(ft).unsqueeze(1); };
  if (mode == "nearest" || mode == "bilinear") {
    ix = gs_pad(ix, w, pad, align);
    iy = gs_pad(iy, h, pad, align);
    if (mode == "nearest") return {gs_read(xf, round(ix), round(iy)).to(x.dtype())};
    const Tensor x0 = floor(ix), y0 = floor(iy);
    const Tensor tx = sub(ix, x0), ty = sub(iy, y0);
    const Tensor one_x = sub(ones_like(tx), tx), one_y = sub(ones_like(ty), ty);
    const Tensor x1 = add(x0, Scalar(1.0)), y1 = add(y0, Scalar(1.0));
    Tensor y = mul(gs_read(xf, x0, y0), weight(mul(one_x, one_y)));
    y = add(y, mul(gs_read(xf, x1, y0), weight(mul(tx, one_y))));
    y = add(y, mul(gs_read(xf, x0, y1), weight(mul(one_x, ty))));
    y = add(y, mul(gs_read(xf, x1, y1), weight(mul(tx, ty))));
    return {y.to(x.dtype())};
  }
  if (mode != "bicubic") c.fail(concat("mode must be bilinear, nearest or bicubic, got '", mode, "'"));
  const double a = -0.75;
  auto coeffs = [&](const Tensor& t) {
    auto cc1 = [&](const Tensor& v) { return add(mul(mul(sub(mul(v, Scalar(a + 2)), Scalar(a + 3)), v), v), Scalar(1.0)); };
    auto cc2 = [&](const Tensor& v) {
      return sub(mul(add(mul(sub(mul(v, Scalar(a)), Scalar(5 * a)), v), Scalar(8 * a)), v), Scalar(4 * a));
    };
    const Tensor one = ones_like(t);
    return std::array<Tensor, 4>{cc2(add(t, Scalar(1.0))), cc1(t), cc1(sub(one, t)), cc2(sub(add(one, one), t))};
  };
  const Tensor x0 = floor(ix), y0 = floor(iy);
  const auto cx = coeffs(sub(ix, x0)), cy = coeffs(sub(iy, y0));
  Tensor y;
  for (int j = 0; j < 4; ++j) {
    // Each tap's position goes through the padding mode on its own, as PyTorch's bicubic.
    const Tensor py = gs_pad(add(y0, Scalar(static_cast<double>(j - 1))), h, pad, align);
    Tensor row;
    for (int i = 0; i < 4; ++i) {
      const Tensor px = gs_pad(add(x0, Scalar(static_cast<double>(i - 1))), w, pad, align);
      const Tensor v = mul(gs_read(xf, px, py), weight(cx[static_cast<size_t>(i)]));
      row = i == 0 ? v : add(row, v);
    }
    const Tensor v = mul(row, weight(cy[static_cast<size_t>(j)]));
    y = j == 0 ? v : add(y, v);
  }
  return {y.to(x.dtype())};
}

// ---------------------------------------------------------------- DFT, Det
// DFT (opset 17) as two matmuls with cosine and sine matrices along the signal axis:
// O(n^2) per signal, exact enough for the short signals models carry.
Outs op_dft(NodeContext& c) {
  const Tensor& x = c.in(0);
  c.check(x.dim() >= 3 && (x.size(-1) == 1 || x.size(-1) == 2),
          concat("input must be [batch, ..., 1 or 2] (real or complex), got ", shape_str(x.sizes())));
  const int64_t axis = c.axis(c.i("axis", 1), x.dim() - 1);
  c.check(axis >= 1, "axis 0 is the batch dim");
  const bool inverse = c.i("inverse", 0) != 0, onesided = c.i("onesided", 0) != 0;
  const DType ft = is_floating(x.dtype()) ? x.dtype() : DType::Float32;
  Tensor re = x.select(-1, 0).to(DType::Float64);
  Tensor im = x.size(-1) == 2 ? x.select(-1, 1).to(DType::Float64) : zeros_like(re);
  int64_t n = re.size(axis);
  if (c.has(1)) {
    const int64_t len = static_cast<int64_t>(c.scalar(1));
    c.check(len >= 1, concat("dft_length must be >= 1, got ", len));
    std::vector<int64_t> b(static_cast<size_t>(re.dim()), 0), e = b;
    e[static_cast<size_t>(axis)] = len - n;  // crop or zero-pad to the length
    re = pad_constant(re, b, e, 0.0);
    im = pad_constant(im, b, e, 0.0);
    n = len;
  }
  c.check(!onesided || x.size(-1) == 1, "onesided needs a real input");
  const int64_t m = onesided ? n / 2 + 1 : n;
  c.check_size({n, m}, DType::Float64);
  std::vector<double> cs(static_cast<size_t>(n * m)), sn(static_cast<size_t>(n * m));
  const double pi = 3.14159265358979323846;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t k = 0; k < m; ++k) {
      const double th = 2 * pi * static_cast<double>((j * k) % n) / static_cast<double>(n);
      cs[static_cast<size_t>(j * m + k)] = std::cos(th);
      sn[static_cast<size_t>(j * m + k)] = std::sin(th);
    }
  const Tensor C = tensor<double>(cs, {n, m}), S = tensor<double>(sn, {n, m});
  const Tensor rt = re.transpose(axis, -1), it = im.transpose(axis, -1);
  const double sign = inverse ? -1.0 : 1.0;  // e^(-i theta) forward, e^(+i theta) inverse
  Tensor yr = add(matmul(rt, C), mul(matmul(it, S), Scalar(sign)));
  Tensor yi = sub(matmul(it, C), mul(matmul(rt, S), Scalar(sign)));
  if (inverse) {
    yr = div(yr, Scalar(static_cast<double>(n)));
    yi = div(yi, Scalar(static_cast<double>(n)));
  }
  return {stack({yr.transpose(axis, -1), yi.transpose(axis, -1)}, -1).to(ft)};
}
// STFT (opset 17): frames of the signal (times the window) through the same DFT matrices.
Outs op_stft(NodeContext& c) {
  const Tensor& x = c.in(0);
  c.check(x.dim() == 3 && (x.size(-1) == 1 || x.size(-1) == 2),
          concat("signal must be [batch, length, 1 or 2], got ", shape_str(x.sizes())));
  const int64_t step = static_cast<int64_t>(c.scalar(1));
  c.check(step >= 1, concat("frame_step must be >= 1, got ", step));
  const Tensor window = c.has(2) ? c.in(2).to(DType::Float64) : Tensor();
  const int64_t len = c.has(3) ? static_cast<int64_t>(c.scalar(3)) : (window.defined() ? window.numel() : 0);
  c.check(len >= 1 && len <= x.size(1), concat("frame_length ", len, " must be 1 to the signal's length ", x.size(1)));
  c.check(!window.defined() || window.numel() == len, concat("the window has ", window.defined() ? window.numel() : 0,
                                                              " values; frame_length is ", len));
  const bool onesided = c.i("onesided", 1) != 0;
  c.check(!onesided || x.size(-1) == 1, "onesided needs a real signal");
  const int64_t frames = (x.size(1) - len) / step + 1;
  const int64_t m = onesided ? len / 2 + 1 : len;
  c.check_size({x.size(0), frames, m, 2}, DType::Float64);
  std::vector<Tensor> re_f, im_f;
  for (int64_t f = 0; f < frames; ++f) {
    const Tensor piece = x.slice(1, f * step, f * step + len).to(DType::Float64);  // [batch, len, 1|2]
    Tensor r = piece.select(-1, 0), i = x.size(-1) == 2 ? piece.select(-1, 1) : zeros_like(r);
    if (window.defined()) {
      r = mul(r, window);
      i = mul(i, window);
    }
    re_f.push_back(r);
    im_f.push_back(i);
  }
  const Tensor re = stack(re_f, 1), im = stack(im_f, 1);  // [batch, frames, len]
  std::vector<double> cs(static_cast<size_t>(len * m)), sn(static_cast<size_t>(len * m));
  const double pi = 3.14159265358979323846;
  for (int64_t j = 0; j < len; ++j)
    for (int64_t k = 0; k < m; ++k) {
      const double th = 2 * pi * static_cast<double>((j * k) % len) / static_cast<double>(len);
      cs[static_cast<size_t>(j * m + k)] = std::cos(th);
      sn[static_cast<size_t>(j * m + k)] = std::sin(th);
    }
  const Tensor C = tensor<double>(cs, {len, m}), S = tensor<double>(sn, {len, m});
  const Tensor yr = add(matmul(re, C), matmul(im, S)), yi = sub(matmul(im, C), matmul(re, S));
  return {stack({yr, yi}, -1).to(is_floating(x.dtype()) ? x.dtype() : DType::Float32)};
}
// Det: LU with partial pivoting per matrix, on the host (eager only).
Outs op_det(NodeContext& c) {
  const Tensor& x = c.in(0);
  c.check(x.dim() >= 2 && x.size(-1) == x.size(-2), concat("input must be [..., n, n], got ", shape_str(x.sizes())));
  const int64_t n = x.size(-1);
  const std::vector<double> v = x.to_vector<double>();
  int64_t count = 1;
  for (int64_t d = 0; d + 2 < x.dim(); ++d) count *= x.size(d);
  std::vector<double> out;
  for (int64_t b = 0; b < count; ++b) {
    std::vector<double> a(v.begin() + b * n * n, v.begin() + (b + 1) * n * n);
    double det = 1;
    for (int64_t col = 0; col < n && det != 0; ++col) {
      int64_t piv = col;
      for (int64_t r = col + 1; r < n; ++r)
        if (std::fabs(a[static_cast<size_t>(r * n + col)]) > std::fabs(a[static_cast<size_t>(piv * n + col)])) piv = r;
      if (a[static_cast<size_t>(piv * n + col)] == 0) {
        det = 0;
        break;
      }
      if (piv != col) {
        for (int64_t k = 0; k < n; ++k) std::swap(a[static_cast<size_t>(piv * n + k)], a[static_cast<size_t>(col * n + k)]);
        det = -det;
      }
      const double p = a[static_cast<size_t>(col * n + col)];
      det *= p;
      for (int64_t r = col + 1; r < n; ++r) {
        const double f = a[static_cast<size_t>(r * n + col)] / p;
        for (int64_t k = col; k < n; ++k) a[static_cast<size_t>(r * n + k)] -= f * a[static_cast<size_t>(col * n + k)];
      }
    }
    out.push_back(det);
  }
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 2);
  return {tensor<double>(out).reshape(shape).to(x.dtype())};
}

// ---------------------------------------------------------------- the table
const std::vector<OpEntry> kTable = {
    {"Abs", 1, op_abs, "abs"},
    {"Acos", 7, op_acos, "atan2, sqrt (composite)"},
    {"Acosh", 9, op_acosh, "log, sqrt (composite)"},
    {"Add", 7, op_add, "add"},
    {"And", 7, op_and, "logical_and"},
    {"ArgMax", 1, op_arg<true>, "argmax (select_last_index: flip)"},
    {"ArgMin", 1, op_arg<false>, "argmin (select_last_index: flip)"},
    {"Asin", 7, op_asin, "atan2, sqrt (composite)"},
    {"Asinh", 9, op_asinh, "log, sqrt (composite)"},
    {"Atan", 7, op_atan, "atan2"},
    {"Atanh", 9, op_atanh, "log (composite)"},
    {"AveragePool", 7, op_average_pool, "avg_pool2d (1-D, 2-D; 3-D separably; uneven pads: explicit padding)"},
    {"BatchNormalization", 7, op_batch_norm, "composite (inference and training_mode)"},
    {"BitShift", 11, op_bit_shift, "mul, floor_divide, remainder (uint8)"},
    {"BlackmanWindow", 17, op_window<2>, "a computed tensor"},
    {"Cast", 7, op_cast, "cast"},
    {"CastLike", 15, op_cast_like, "cast"},
    {"Ceil", 1, op_ceil, "ceil"},
    {"Celu", 12, op_celu, "relu, expm1, minimum (composite)"},
    {"Clip", 7, op_clip, "clamp (min/max attributes before opset 11, inputs from 11)"},
    {"Compress", 9, op_compress, "index_select (eager only: data-dependent shape)"},
    {"Concat", 4, op_concat, "cat"},
    {"Constant", 7, op_constant, "a tensor"},
    {"ConstantOfShape", 9, op_constant_of_shape, "full"},
    {"Conv", 7, op_conv, "conv2d (1-D via 2-D; uneven pads: explicit padding)"},
    {"ConvInteger", 10, op_conv_integer, "conv2d in float64 (exact), cast to int32"},
    {"ConvTranspose", 7, op_conv_transpose, "conv_transpose2d (1-D via 2-D), slice for pads"},
    {"Cos", 7, op_cos, "cos"},
    {"Cosh", 9, op_cosh, "exp (composite)"},
    {"CumSum", 11, op_cumsum, "cumsum, flip"},
    {"DFT", 17, op_dft, "matmul with cosine and sine matrices"},
    {"DepthToSpace", 1, op_depth_to_space, "reshape, permute"},
    {"DequantizeLinear", 10, op_dequantize_linear, "sub, mul"},
    {"Det", 11, op_det, "eager only: LU on the host"},
    {"Div", 7, op_div, "div (integers: truncating, via floor_divide)"},
    {"Dropout", 7, op_dropout, "identity (inference)"},
    {"DynamicQuantizeLinear", 11, op_dynamic_quantize_linear, "amin, amax, round, clamp"},
    {"Einsum", 12, op_einsum, "permute, mul, sum (no ellipsis or diagonals)"},
    {"Elu", 1, op_elu, "where, expm1"},
    {"Equal", 7, op_equal, "eq"},
    {"Erf", 9, op_erf, "erf"},
    {"Exp", 1, op_exp, "exp"},
    {"Expand", 8, op_expand, "expand"},
    {"EyeLike", 9, op_eye_like, "arange, eq"},
    {"Flatten", 1, op_flatten, "reshape"},
    {"Floor", 1, op_floor, "floor"},
    {"GRU", 7, op_recurrent<Cell::Gru>, "matmul per step (unrolled)"},
    {"Gather", 7, op_gather, "index_select, reshape"},
    {"GatherElements", 11, op_gather_elements, "gather"},
    {"GatherND", 11, op_gather_nd, "index_select over linear indices"},
    {"Gemm", 7, op_gemm, "matmul, mul, add (transA/transB: transpose)"},
    {"GlobalAveragePool", 1, op_global_average_pool, "mean"},
    {"GlobalMaxPool", 1, op_global_max_pool, "amax"},
    {"Greater", 7, op_greater, "gt"},
    {"GreaterOrEqual", 12, op_greater_equal, "ge"},
    {"GridSample", 16, op_grid_sample, "gather of the taps, weights (bilinear, nearest, bicubic)"},
    {"HammingWindow", 17, op_window<1>, "a computed tensor"},
    {"HannWindow", 17, op_window<0>, "a computed tensor"},
    {"HardSigmoid", 1, op_hard_sigmoid, "clamp (composite)"},
    {"HardSwish", 14, op_hard_swish, "clamp, mul (composite)"},
    {"Hardmax", 1, softmax_like<hardmax_fn>, "argmax, eq (2-D coercion before opset 13)"},
    {"Identity", 1, op_identity, "the input itself"},
    {"InstanceNormalization", 1, op_instance_norm, "mean, var (composite)"},
    {"IsInf", 10, op_isinf, "isinf"},
    {"IsNaN", 9, op_isnan, "isnan"},
    {"LRN", 1, op_lrn, "composite (sum of shifted squares)"},
    {"LSTM", 7, op_recurrent<Cell::Lstm>, "matmul per step (unrolled; peepholes)"},
    {"LayerNormalization", 17, op_layer_norm, "mean, rsqrt (composite; Mean and InvStdDev outputs)"},
    {"LeakyRelu", 1, op_leaky_relu, "leaky_relu"},
    {"Less", 7, op_less, "lt"},
    {"LessOrEqual", 12, op_less_equal, "le"},
    {"Log", 1, op_log, "log"},
    {"LogSoftmax", 1, softmax_like<log_softmax_fn>, "log_softmax (2-D coercion before opset 13)"},
    {"MatMul", 7, op_matmul, "matmul"},
    {"MatMulInteger", 10, op_matmul_integer, "matmul in float64 (exact), cast to int32"},
    {"Max", 7, op_variadic<max2>, "maximum"},
    {"MaxPool", 7, op_max_pool, "max_pool2d (1-D, 2-D; 3-D separably; pads: explicit -inf padding); Indices: argmax over window offsets"},
    {"MaxUnpool", 9, op_max_unpool, "scatter into zeros"},
    {"Mean", 7, op_mean, "add, div"},
    {"MeanVarianceNormalization", 9, op_mvn, "mean, sqrt (composite)"},
    {"Min", 7, op_variadic<min2>, "minimum"},
    {"Mod", 10, op_mod, "remainder (fmod=0); remainder and a sign fix (fmod=1)"},
    {"Mul", 7, op_mul, "mul"},
    {"Neg", 1, op_neg, "neg"},
    {"NegativeLogLikelihoodLoss", 12, op_nll_loss, "gather, where, sum (composite)"},
    {"NonMaxSuppression", 10, op_nms, "eager only: greedy suppression on the host"},
    {"NonZero", 9, op_nonzero, "eager only: data-dependent shape"},
    {"Not", 1, op_not, "logical_not"},
    {"OneHot", 9, op_one_hot, "eq, where"},
    {"Or", 7, op_or, "logical_or"},
    {"PRelu", 7, op_prelu, "where, mul"},
    {"Pad", 7, op_pad, "cat (constant), index_select (reflect, edge)"},
    {"Pow", 7, op_pow, "pow"},
    {"QLinearConv", 10, op_qlinear_conv, "conv2d in float64, requantized"},
    {"QLinearMatMul", 10, op_qlinear_matmul, "matmul in float64, requantized"},
    {"QuantizeLinear", 10, op_quantize_linear, "div, round (half to even), add, clamp"},
    {"RNN", 7, op_recurrent<Cell::Rnn>, "matmul per step (unrolled)"},
    {"Range", 11, op_range, "arange, mul, add"},
    {"Reciprocal", 1, op_reciprocal, "reciprocal"},
    {"ReduceL1", 1, op_reduce<Red::L1>, "sum, abs"},
    {"ReduceL2", 1, op_reduce<Red::L2>, "sum, sqrt"},
    {"ReduceLogSum", 1, op_reduce<Red::LogSum>, "sum, log"},
    {"ReduceLogSumExp", 1, op_reduce<Red::LogSumExp>, "logsumexp"},
    {"ReduceMax", 1, op_reduce<Red::Max>, "amax"},
    {"ReduceMean", 1, op_reduce<Red::Mean>, "mean"},
    {"ReduceMin", 1, op_reduce<Red::Min>, "amin"},
    {"ReduceProd", 1, op_reduce<Red::Prod>, "prod"},
    {"ReduceSum", 1, op_reduce<Red::Sum>, "sum"},
    {"ReduceSumSquare", 1, op_reduce<Red::SumSquare>, "sum, mul"},
    {"Relu", 1, op_relu, "relu"},
    {"Reshape", 7, op_reshape, "reshape (0 copies a dim unless allowzero, -1 infers)"},
    {"Resize", 10, op_resize, "index_select and weights per axis (nearest, linear, cubic)"},
    {"ReverseSequence", 10, op_reverse_sequence, "gather (indices from the lengths' values)"},
    {"Round", 11, op_round, "round"},
    {"STFT", 17, op_stft, "framed slices, matmul with cosine and sine matrices"},
    {"Scatter", 9, op_scatter_elements, "scatter", nullptr, 10},
    {"ScatterElements", 11, op_scatter_elements, "scatter, scatter_add"},
    {"ScatterND", 11, op_scatter_nd, "index_put"},
    {"Selu", 1, op_selu, "where, expm1"},
    {"Shape", 1, op_shape, "its sizes as a constant (the graph is per input shape)"},
    {"Shrink", 9, op_shrink, "where"},
    {"Sigmoid", 1, op_sigmoid, "sigmoid"},
    {"Sign", 9, op_sign, "sign"},
    {"Sin", 7, op_sin, "sin"},
    {"Sinh", 9, op_sinh, "exp (composite)"},
    {"Size", 1, op_size, "its numel as a constant"},
    {"Slice", 7, op_slice, "slice (negative steps: flip)"},
    {"Softmax", 1, softmax_like<softmax_fn>, "softmax (2-D coercion before opset 13)"},
    {"SoftmaxCrossEntropyLoss", 12, op_softmax_cross_entropy, "log_softmax, gather (composite)"},
    {"Softplus", 1, op_softplus, "softplus"},
    {"Softsign", 1, op_softsign, "abs, div"},
    {"SpaceToDepth", 1, op_space_to_depth, "reshape, permute"},
    {"Split", 7, op_split, "slice"},
    {"Sqrt", 1, op_sqrt, "sqrt"},
    {"Squeeze", 1, op_squeeze, "reshape"},
    {"Sub", 7, op_sub, "sub"},
    {"Sum", 7, op_variadic<add2>, "add"},
    {"Tan", 7, op_tan, "tan"},
    {"Tanh", 1, op_tanh, "tanh"},
    {"ThresholdedRelu", 10, op_thresholded_relu, "where"},
    {"Tile", 6, op_tile, "tile"},
    {"TopK", 7, op_topk, "topk"},
    {"Transpose", 1, op_transpose, "permute"},
    {"Trilu", 14, op_trilu, "triu, tril"},
    {"Unique", 11, op_unique, "index_select (eager only: data-dependent shape)"},
    {"Unsqueeze", 1, op_unsqueeze, "reshape"},
    {"Upsample", 7, op_upsample, "as Resize (asymmetric, floor)", nullptr, 9},
    {"Where", 9, op_where, "where"},
    {"Xor", 7, op_xor, "logical_xor"},
};

}  // namespace

const std::vector<OpEntry>& op_table() { return kTable; }

const OpEntry* find_op_entry(const std::string& op_type) {
  for (const OpEntry& e : kTable)
    if (op_type == e.onnx_op) return &e;
  return nullptr;
}

}  // namespace tessera::onnx::detail

namespace tessera::onnx {

std::vector<OpSupport> supported_ops() {
  std::vector<OpSupport> out;
  for (const detail::OpEntry& e : detail::op_table())
    out.push_back({e.onnx_op, e.since_opset, e.tessera, e.export_fn != nullptr});
  return out;
}

std::string unsupported_reason(const std::string& op_type, int64_t opset) {
  const detail::OpEntry* e = detail::find_op_entry(op_type);
  if (e == nullptr) return tessera::detail::concat("operator '", op_type, "' is not supported");
  if (opset < e->since_opset || opset > e->until_opset)
    return tessera::detail::concat("operator '", op_type, "' is supported at opsets ", e->since_opset, " to ",
                                   e->until_opset, ", not ", opset);
  return "";
}

}  // namespace tessera::onnx
