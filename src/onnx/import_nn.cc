// Import functions of the ONNX operator table (op_table.cc): convolution, pooling,
// normalization, softmax, losses, Resize, GridSample, recurrent layers, quantized operators.
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

// ---------------------------------------------------------------- convolution and pooling
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

}  // namespace

std::vector<OpEntry> nn_ops() {
  return {
      {"AveragePool", 7, op_average_pool, "avg_pool2d (1-D, 2-D; 3-D separably; uneven pads: explicit padding)"},
      {"BatchNormalization", 7, op_batch_norm, "composite (inference and training_mode)"},
      {"Conv", 7, op_conv, "conv2d (1-D via 2-D; uneven pads: explicit padding)"},
      {"ConvInteger", 10, op_conv_integer, "conv2d in float64 (exact), cast to int32"},
      {"ConvTranspose", 7, op_conv_transpose, "conv_transpose2d (1-D via 2-D), slice for pads"},
      {"DequantizeLinear", 10, op_dequantize_linear, "sub, mul"},
      {"Dropout", 7, op_dropout, "identity (inference)"},
      {"DynamicQuantizeLinear", 11, op_dynamic_quantize_linear, "amin, amax, round, clamp"},
      {"GRU", 7, op_recurrent<Cell::Gru>, "matmul per step (unrolled)"},
      {"GlobalAveragePool", 1, op_global_average_pool, "mean"},
      {"GlobalMaxPool", 1, op_global_max_pool, "amax"},
      {"GridSample", 16, op_grid_sample, "gather of the taps, weights (bilinear, nearest, bicubic)"},
      {"Hardmax", 1, softmax_like<hardmax_fn>, "argmax, eq (2-D coercion before opset 13)"},
      {"InstanceNormalization", 1, op_instance_norm, "mean, var (composite)"},
      {"LRN", 1, op_lrn, "composite (sum of shifted squares)"},
      {"LSTM", 7, op_recurrent<Cell::Lstm>, "matmul per step (unrolled; peepholes)"},
      {"LayerNormalization", 17, op_layer_norm, "mean, rsqrt (composite; Mean and InvStdDev outputs)"},
      {"LogSoftmax", 1, softmax_like<log_softmax_fn>, "log_softmax (2-D coercion before opset 13)"},
      {"MatMulInteger", 10, op_matmul_integer, "matmul in float64 (exact), cast to int32"},
      {"MaxPool", 7, op_max_pool, "max_pool2d (1-D, 2-D; 3-D separably; pads: explicit -inf padding); Indices: argmax over window offsets"},
      {"MaxUnpool", 9, op_max_unpool, "scatter into zeros"},
      {"MeanVarianceNormalization", 9, op_mvn, "mean, sqrt (composite)"},
      {"NegativeLogLikelihoodLoss", 12, op_nll_loss, "gather, where, sum (composite)"},
      {"QLinearConv", 10, op_qlinear_conv, "conv2d in float64, requantized"},
      {"QLinearMatMul", 10, op_qlinear_matmul, "matmul in float64, requantized"},
      {"QuantizeLinear", 10, op_quantize_linear, "div, round (half to even), add, clamp"},
      {"RNN", 7, op_recurrent<Cell::Rnn>, "matmul per step (unrolled)"},
      {"Resize", 10, op_resize, "index_select and weights per axis (nearest, linear, cubic)"},
      {"Softmax", 1, softmax_like<softmax_fn>, "softmax (2-D coercion before opset 13)"},
      {"SoftmaxCrossEntropyLoss", 12, op_softmax_cross_entropy, "log_softmax, gather (composite)"},
      {"Upsample", 7, op_upsample, "as Resize (asymmetric, floor)", nullptr, 9},
  };
}

}  // namespace tessera::onnx::detail
