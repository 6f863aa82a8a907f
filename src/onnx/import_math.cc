// Import functions of the ONNX operator table (op_table.cc): elementwise, linear algebra,
// reductions, Einsum, window functions, DFT/STFT and Det.
// Each turns a node (inputs, attributes, opset) into Tessera ops; the rows at the end of
// the file list the operators this file handles, each with a slot for its export function.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "onnx/import_util.h"
#include "tessera/error.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"

namespace tessera::onnx::detail {
namespace {

using tessera::detail::concat;

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
UNARY(op_mish, mul(x, tanh(softplus(x))))
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
    // Integer bounds are read as integers (a double would round those beyond 2^53).
    auto bound = [&](size_t i) -> Scalar {
      if (is_floating(x.dtype())) return Scalar(c.scalar(i));
      if (x.dtype() == DType::Bool) return Scalar(c.scalar(i) != 0);
      return Scalar(c.int_scalar(i));
    };
    if (c.has(1)) lo = bound(1);
    if (c.has(2)) hi = bound(2);
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
  const int64_t axis = c.axis(c.int_scalar(1), x.dim());
  const bool reverse = c.i("reverse", 0) != 0, exclusive = c.i("exclusive", 0) != 0;
  Tensor v = reverse ? flip(x, {axis}) : x;
  Tensor y = cumsum(v, axis).to(x.dtype());
  if (exclusive) y = sub(y, v).to(x.dtype());
  return {reverse ? flip(y, {axis}) : y};
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

// ---------------------------------------------------------------- einsum
// Each operand's repeated indices are first reduced to their diagonal and its ellipsis
// spelled out as fresh (upper-case) indices; then the operands are broadcast-multiplied
// over all indices and the ones the output does not keep are summed. Memory is the product
// of all indices' sizes (checked against the limits): fine for the contractions models use
// between small operands.
Outs op_einsum(NodeContext& c) {
  std::string eq = c.s("equation");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  c.check(terms.size() == c.num_inputs(), concat("the equation has ", terms.size(), " operands, the node ", c.num_inputs()));
  // Ellipses: the broadcast dims, right-aligned, named 'A', 'B', ... (inputs use lower case
  // in practice; a clash is refused).
  int64_t ell = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    const size_t at = terms[k].find("...");
    if (at == std::string::npos) continue;
    ell = std::max<int64_t>(ell, c.in(k).dim() - static_cast<int64_t>(terms[k].size() - 3));
  }
  c.check(ell <= 26, "too many ellipsis dims");
  std::string ell_letters;
  for (int64_t i = 0; i < ell; ++i) ell_letters += static_cast<char>('A' + i);
  std::vector<Tensor> xs;
  std::map<char, int> count;  // occurrences of each index over all operands
  for (size_t k = 0; k < terms.size(); ++k) {
    std::string& t = terms[k];
    const size_t at = t.find("...");
    if (at != std::string::npos) {
      const int64_t e = c.in(k).dim() - static_cast<int64_t>(t.size() - 3);
      c.check(e >= 0, concat("operand ", k, " ('", t, "') has rank ", c.in(k).dim()));
      t = t.substr(0, at) + ell_letters.substr(static_cast<size_t>(ell - e)) + t.substr(at + 3);
    }
    for (char ch : t) {
      c.check(std::isalpha(static_cast<unsigned char>(ch)), concat("bad equation '", eq, "'"));
      c.check(at != std::string::npos || !std::isupper(static_cast<unsigned char>(ch)) || ell == 0,
              "upper-case indices together with an ellipsis are not supported");
    }
    Tensor x = c.in(k);
    c.check(static_cast<int64_t>(t.size()) == x.dim(), concat("operand ", k, " ('", t, "') has rank ", x.dim()));
    for (char ch : t) ++count[ch];  // as written (a repeated index counts twice: "ii" is a trace)
    // Repeated index: keep the diagonal (multiply by the identity, sum one of the two dims).
    for (size_t p = 0; p < t.size(); ++p)
      for (size_t q = t.size(); q-- > p + 1;) {
        if (t[q] != t[p]) continue;
        const int64_t n = x.size(static_cast<int64_t>(p));
        c.check(x.size(static_cast<int64_t>(q)) == n, concat("index '", t[p], "' has sizes ", n, " and ",
                                                             x.size(static_cast<int64_t>(q)), " in operand ", k));
        std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
        shape[p] = n;
        shape[q] = n;
        x = sum(mul(x, eye(n, n, x.dtype()).reshape(shape)), {static_cast<int64_t>(q)});
        t.erase(q, 1);
      }
    xs.push_back(x);
  }
  std::string letters;
  for (const std::string& t : terms)
    for (char ch : t)
      if (letters.find(ch) == std::string::npos) letters += ch;
  std::string rhs;
  if (arrow != std::string::npos) {
    rhs = eq.substr(arrow + 2);
    const size_t at = rhs.find("...");
    if (at != std::string::npos) rhs = rhs.substr(0, at) + ell_letters + rhs.substr(at + 3);
  } else {  // implicit: the ellipsis, then the indices seen once, in alphabetical order
    rhs = ell_letters;
    for (const auto& [ch, n] : count)
      if (n == 1 && !std::isupper(static_cast<unsigned char>(ch))) rhs += ch;
  }
  std::map<char, int64_t> size;  // the largest (broadcast) size of each index
  for (size_t k = 0; k < terms.size(); ++k)
    for (size_t j = 0; j < terms[k].size(); ++j)
      size[terms[k][j]] = std::max(size[terms[k][j]], xs[k].size(static_cast<int64_t>(j)));
  {
    std::vector<int64_t> all;  // the broadcast product holds every index
    for (char ch : letters) all.push_back(size[ch]);
    c.check_size(all, c.in(0).dtype());
  }
  Tensor prod_all;
  for (size_t k = 0; k < terms.size(); ++k) {
    std::vector<int64_t> perm, shape;
    for (char ch : letters) {
      const size_t at = terms[k].find(ch);
      if (at != std::string::npos) perm.push_back(static_cast<int64_t>(at));
      shape.push_back(at != std::string::npos ? xs[k].size(static_cast<int64_t>(at)) : 1);
    }
    const Tensor p = xs[k].permute(perm).reshape(shape);
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

// ---------------------------------------------------------------- windows (opset 17)
template <int Kind>  // 0 Hann, 1 Hamming, 2 Blackman
Outs op_window(NodeContext& c) {
  const int64_t n = c.int_scalar(0);
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
    const int64_t len = c.int_scalar(1);
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
  const int64_t step = c.int_scalar(1);
  c.check(step >= 1, concat("frame_step must be >= 1, got ", step));
  const Tensor window = c.has(2) ? c.in(2).to(DType::Float64) : Tensor();
  const int64_t len = c.has(3) ? c.int_scalar(3) : (window.defined() ? window.numel() : 0);
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

}  // namespace

std::vector<OpEntry> math_ops() {
  return {
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
      {"BitShift", 11, op_bit_shift, "mul, floor_divide, remainder (uint8)"},
      {"BlackmanWindow", 17, op_window<2>, "a computed tensor"},
      {"Cast", 7, op_cast, "cast"},
      {"CastLike", 15, op_cast_like, "cast"},
      {"Ceil", 1, op_ceil, "ceil"},
      {"Celu", 12, op_celu, "relu, expm1, minimum (composite)"},
      {"Clip", 7, op_clip, "clamp (min/max attributes before opset 11, inputs from 11)"},
      {"Cos", 7, op_cos, "cos"},
      {"Cosh", 9, op_cosh, "exp (composite)"},
      {"CumSum", 11, op_cumsum, "cumsum, flip"},
      {"DFT", 17, op_dft, "matmul with cosine and sine matrices"},
      {"Det", 11, op_det, "eager only: LU on the host"},
      {"Div", 7, op_div, "div (integers: truncating, via floor_divide)"},
      {"Einsum", 12, op_einsum, "permute, mul, sum (ellipsis; diagonals via eye)"},
      {"Elu", 1, op_elu, "where, expm1"},
      {"Equal", 7, op_equal, "eq"},
      {"Erf", 9, op_erf, "erf"},
      {"Exp", 1, op_exp, "exp"},
      {"Floor", 1, op_floor, "floor"},
      {"Gemm", 7, op_gemm, "matmul, mul, add (transA/transB: transpose)"},
      {"Greater", 7, op_greater, "gt"},
      {"GreaterOrEqual", 12, op_greater_equal, "ge"},
      {"HammingWindow", 17, op_window<1>, "a computed tensor"},
      {"HannWindow", 17, op_window<0>, "a computed tensor"},
      {"HardSigmoid", 1, op_hard_sigmoid, "clamp (composite)"},
      {"HardSwish", 14, op_hard_swish, "clamp, mul (composite)"},
      {"Mish", 18, op_mish, "softplus, tanh, mul"},
      {"Identity", 1, op_identity, "the input itself"},
      {"IsInf", 10, op_isinf, "isinf"},
      {"IsNaN", 9, op_isnan, "isnan"},
      {"LeakyRelu", 1, op_leaky_relu, "leaky_relu"},
      {"Less", 7, op_less, "lt"},
      {"LessOrEqual", 12, op_less_equal, "le"},
      {"Log", 1, op_log, "log"},
      {"MatMul", 7, op_matmul, "matmul"},
      {"Max", 7, op_variadic<max2>, "maximum"},
      {"Mean", 7, op_mean, "add, div"},
      {"Min", 7, op_variadic<min2>, "minimum"},
      {"Mod", 10, op_mod, "remainder (fmod=0); remainder and a sign fix (fmod=1)"},
      {"Mul", 7, op_mul, "mul"},
      {"Neg", 1, op_neg, "neg"},
      {"Not", 1, op_not, "logical_not"},
      {"Or", 7, op_or, "logical_or"},
      {"PRelu", 7, op_prelu, "where, mul"},
      {"Pow", 7, op_pow, "pow"},
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
      {"Round", 11, op_round, "round"},
      {"STFT", 17, op_stft, "framed slices, matmul with cosine and sine matrices"},
      {"Selu", 1, op_selu, "where, expm1"},
      {"Shrink", 9, op_shrink, "where"},
      {"Sigmoid", 1, op_sigmoid, "sigmoid"},
      {"Sign", 9, op_sign, "sign"},
      {"Sin", 7, op_sin, "sin"},
      {"Sinh", 9, op_sinh, "exp (composite)"},
      {"Softplus", 1, op_softplus, "softplus"},
      {"Softsign", 1, op_softsign, "abs, div"},
      {"Sqrt", 1, op_sqrt, "sqrt"},
      {"Sub", 7, op_sub, "sub"},
      {"Sum", 7, op_variadic<add2>, "add"},
      {"Tan", 7, op_tan, "tan"},
      {"Tanh", 1, op_tanh, "tanh"},
      {"ThresholdedRelu", 10, op_thresholded_relu, "where"},
      {"Where", 9, op_where, "where"},
      {"Xor", 7, op_xor, "logical_xor"},
  };
}

}  // namespace tessera::onnx::detail
