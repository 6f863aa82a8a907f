// Helpers shared by the import functions (import_util.h).
#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>

#include "onnx/import_util.h"
#include "tessera/error.h"
#include "tessera/ops.h"

namespace tessera::onnx::detail {

using tessera::detail::concat;

Tensor i64(const std::vector<int64_t>& v) { return tensor<int64_t>(v); }
int64_t saturate_int(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return static_cast<int64_t>(v);
}
Tensor scalar_like(double v, DType dtype) { return full({}, is_floating(dtype) ? Scalar(v) : Scalar(saturate_int(v)), dtype); }
Scalar scalar_for(double v, DType dtype) {
  if (dtype == DType::Bool) return Scalar(v != 0);
  if (is_floating(dtype)) return Scalar(v);
  return Scalar(saturate_int(v));
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
    c.check(w.strides[i] >= 1 && w.dilations[i] >= 1 && w.kernel[i] >= 1 && w.strides[i] <= kMaxWindowParam &&
                w.dilations[i] <= kMaxWindowParam && w.kernel[i] <= kMaxWindowParam,
            concat("kernel_shape, strides and dilations must be 1 to ", kMaxWindowParam));
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

}  // namespace tessera::onnx::detail
