// Import functions of the ONNX operator table (op_table.cc): Resize, Upsample and GridSample.
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
  c.check(in > 0 || out == 0, concat("cannot resize an empty axis ", d, " to ", out));
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
      idx[0][static_cast<size_t>(o)] = std::clamp<int64_t>(saturate_int(r), 0, in - 1);
      wt[0][static_cast<size_t>(o)] = 1;
      continue;
    }
    c.check(std::isfinite(xo) && std::fabs(xo) < 1e15, "scales/roi give a source coordinate out of range");
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
      c.check(scales[d] > 0 && std::isfinite(scales[d]), concat("scales must be finite and > 0, got ", scales[d]));
      const double out = std::floor(static_cast<double>(x.size(static_cast<int64_t>(d))) * scales[d]);
      c.check(out < 1e15, concat("scales[", d, "] = ", scales[d], " gives an output dim of ", out));
      sizes.push_back(static_cast<int64_t>(out));
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

}  // namespace

std::vector<OpEntry> resample_ops() {
  return {
      {"Resize", 10, op_resize, "index_select and weights per axis (nearest, linear, cubic)"},
      {"Upsample", 7, op_upsample, "as Resize (asymmetric, floor)", nullptr, 9},
      {"GridSample", 16, op_grid_sample, "gather of the taps, weights (bilinear, nearest, bicubic)"},
  };
}

}  // namespace tessera::onnx::detail
