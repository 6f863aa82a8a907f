// Import functions of the ONNX operator table (op_table.cc): shapes, indexing,
// constants, and the operators whose output shapes the values decide.
// Each turns a node (inputs, attributes, opset) into Tessera ops; the rows at the end of
// the file list the operators this file handles, each with a slot for its export function.
#include <algorithm>
#include <array>
#include <climits>
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
  // The element count, checked here without overflow (hostile shapes hold huge values).
  int64_t known = 1;
  for (int64_t d : shape) {
    if (d == -1) continue;
    c.check(d == 0 || known <= INT64_MAX / d,
            concat("shape ", shape_str(shape), " does not fit the input's ", x.numel(), " elements"));
    known *= d;
  }
  c.check(minus ? (known != 0 && x.numel() % known == 0) : known == x.numel(),
          concat("shape ", shape_str(shape), " does not fit the input ", shape_str(x.sizes())));
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
    c.check(s >= 0 && s <= n, concat("split sizes must be 0 to the axis' size ", n, ", got ", s));
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
    c.check(step != 0 && step != INT64_MIN, concat("steps must not be 0 (or INT64_MIN), got ", step));
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
// CenterCropPad (18): each axis cropped around its center or padded with zeros on both
// sides (the odd element at the end), to the shape given.
Outs op_center_crop_pad(NodeContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> shape = c.ints(1);
  std::vector<int64_t> axes = c.ints_attr_opt("axes").value_or(std::vector<int64_t>{});
  if (axes.empty()) axes = all_dims(x.dim());
  c.check(shape.size() == axes.size(), concat("shape has ", shape.size(), " values for ", axes.size(), " axes"));
  std::vector<int64_t> b(static_cast<size_t>(x.dim()), 0), e = b;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t d = c.axis(axes[i], x.dim()), have = x.size(d), want = shape[i];
    c.check(want >= 0, concat("shape values must be >= 0, got ", want));
    const int64_t diff = want - have;  // < 0: crop (more from the end); > 0: pad
    b[static_cast<size_t>(d)] = diff >= 0 ? diff / 2 : -((-diff) / 2);
    e[static_cast<size_t>(d)] = diff - b[static_cast<size_t>(d)];
  }
  std::vector<int64_t> out = sizes_of(x);
  for (size_t i = 0; i < out.size(); ++i) out[i] += b[i] + e[i];
  c.check_size(out, x.dtype());
  return {pad_constant(x, b, e, 0.0)};
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
  return {add(mul(k, Scalar(saturate_int(delta))), Scalar(saturate_int(start))).to(t)};
}
Outs op_one_hot(NodeContext& c) {
  const Tensor& idx = c.in(0);
  const int64_t depth = c.int_scalar(1);
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
  const Tensor& x = c.in(0);
  c.check(x.dim() >= 2, concat("input must have at least 2 dims, got ", shape_str(x.sizes())));
  // Beyond the matrix's size every k means the same; clamped so no kernel arithmetic overflows.
  const int64_t span = x.size(-1) + x.size(-2);
  const int64_t k = std::clamp<int64_t>(c.has(1) ? c.int_scalar(1) : 0, -span, span);
  return {c.i("upper", 1) ? triu(x, k) : tril(x, k)};
}
Outs op_topk(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t k = c.opset() >= 10 ? c.int_scalar(1) : c.i("k");
  const int64_t axis = c.axis(c.i("axis", -1), x.dim());
  c.check(k >= 0 && k <= x.size(axis), concat("k = ", k, " is out of range for axis ", axis, " of size ", x.size(axis)));
  auto [v, i] = topk(x, k, axis, c.i("largest", 1) != 0, c.i("sorted", 1) != 0);
  return {v, i};
}
Outs op_depth_to_space(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t b = c.i("blocksize");
  c.check(b >= 1 && b <= kMaxWindowParam, concat("blocksize must be 1 to ", kMaxWindowParam, ", got ", b));
  c.check(x.dim() == 4 && x.size(1) % (b * b) == 0,
          concat("needs [N, C, H, W] with C divisible by blocksize^2 (", b, "), got ", shape_str(x.sizes())));
  const int64_t n = x.size(0), ch = x.size(1) / (b * b), h = x.size(2), w = x.size(3);
  if (c.s("mode", "DCR") == "DCR")
    return {x.reshape({n, b, b, ch, h, w}).permute({0, 3, 4, 1, 5, 2}).reshape({n, ch, h * b, w * b})};
  return {x.reshape({n, ch, b, b, h, w}).permute({0, 1, 4, 2, 5, 3}).reshape({n, ch, h * b, w * b})};
}
Outs op_space_to_depth(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t b = c.i("blocksize");
  c.check(b >= 1 && b <= kMaxWindowParam, concat("blocksize must be 1 to ", kMaxWindowParam, ", got ", b));
  c.check(x.dim() == 4 && x.size(2) % b == 0 && x.size(3) % b == 0,
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

// ---------------------------------------------------------------- sequences
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
  const int64_t max_out = c.has(2) && c.in(2).numel() ? c.int_scalar(2) : 0;
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

}  // namespace

std::vector<OpEntry> shape_ops() {
  return {
      {"CenterCropPad", 18, op_center_crop_pad, "slice or cat with zeros"},
      {"Compress", 9, op_compress, "index_select (eager only: data-dependent shape)"},
      {"Concat", 4, op_concat, "cat"},
      {"Constant", 7, op_constant, "a tensor"},
      {"ConstantOfShape", 9, op_constant_of_shape, "full"},
      {"DepthToSpace", 1, op_depth_to_space, "reshape, permute"},
      {"Expand", 8, op_expand, "expand"},
      {"EyeLike", 9, op_eye_like, "arange, eq"},
      {"Flatten", 1, op_flatten, "reshape"},
      {"Gather", 7, op_gather, "index_select, reshape"},
      {"GatherElements", 11, op_gather_elements, "gather"},
      {"GatherND", 11, op_gather_nd, "index_select over linear indices"},
      {"NonMaxSuppression", 10, op_nms, "eager only: greedy suppression on the host"},
      {"NonZero", 9, op_nonzero, "eager only: data-dependent shape"},
      {"OneHot", 9, op_one_hot, "eq, where"},
      {"Pad", 7, op_pad, "cat (constant), index_select (reflect, edge)"},
      {"Range", 11, op_range, "arange, mul, add"},
      {"Reshape", 7, op_reshape, "reshape (0 copies a dim unless allowzero, -1 infers)"},
      {"ReverseSequence", 10, op_reverse_sequence, "gather (indices from the lengths' values)"},
      {"Scatter", 9, op_scatter_elements, "scatter", nullptr, 10},
      {"ScatterElements", 11, op_scatter_elements, "scatter, scatter_add"},
      {"ScatterND", 11, op_scatter_nd, "index_put"},
      {"Shape", 1, op_shape, "its sizes as a constant (the graph is per input shape)"},
      {"Size", 1, op_size, "its numel as a constant"},
      {"Slice", 7, op_slice, "slice (negative steps: flip)"},
      {"SpaceToDepth", 1, op_space_to_depth, "reshape, permute"},
      {"Split", 7, op_split, "slice"},
      {"Squeeze", 1, op_squeeze, "reshape"},
      {"Tile", 6, op_tile, "tile"},
      {"TopK", 7, op_topk, "topk"},
      {"Transpose", 1, op_transpose, "permute"},
      {"Trilu", 14, op_trilu, "triu, tril"},
      {"Unique", 11, op_unique, "index_select (eager only: data-dependent shape)"},
      {"Unsqueeze", 1, op_unsqueeze, "reshape"},
  };
}

}  // namespace tessera::onnx::detail
