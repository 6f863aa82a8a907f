// Import functions of the ONNX operator table (op_table.cc): convolution, pooling,
// normalization, softmax, losses and quantized operators.
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
  for (size_t i = 0; i < spatial; ++i)
    c.check(k[i] >= 1 && strides[i] >= 1 && dil[i] >= 1 && out_pad[i] >= 0 && k[i] <= kMaxWindowParam &&
                strides[i] <= kMaxWindowParam && dil[i] <= kMaxWindowParam && out_pad[i] < kMaxWindowParam,
            concat("kernel_shape, strides and dilations must be 1 to ", kMaxWindowParam,
                   ", output_padding 0 to ", kMaxWindowParam - 1));
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
  std::vector<int64_t> begin(4, 0), end(4, 0), out = sizes_of(y);
  for (size_t i = 0; i < 2; ++i) {
    c.check(std::abs(pb[i]) < (int64_t{1} << 40) && std::abs(pe[i]) < (int64_t{1} << 40), "pads are out of range");
    begin[2 + i] = -pb[i];
    end[2 + i] = out_pad[i] - pe[i];
    out[2 + i] += begin[2 + i] + end[2 + i];
    c.check(out[2 + i] >= 0, concat("pads crop more than the output's ", y.size(static_cast<int64_t>(2 + i))));
  }
  c.check_size(out, y.dtype());
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
  // Even pads of at most half the kernel (what exporters write for PyTorch's max_pool2d:
  // ResNet's 3x3 stem pool) are max_pool2d's own padding, the same windows and values as
  // a -inf border. Compiled graphs then see one max_pool2d on the convolution's output,
  // which the layout passes keep blocked, instead of pooling a padded copy. Not with
  // ceil_mode: max_pool2d's last window must start inside the input, ONNX's may start in
  // the end padding.
  bool implicit = any_pad && !ceil_mode;
  for (size_t i = 0; i < 2; ++i)
    implicit = implicit && w.pad_begin[i] == w.pad_end[i] && w.pad_begin[i] <= w.kernel[i] / 2;
  if (any_pad && !implicit)
    x = pad_constant(x, zero_prefix(w.pad_begin, 2), zero_prefix(w.pad_end, 2), -std::numeric_limits<double>::infinity());
  const std::vector<int64_t> padding = implicit ? std::vector<int64_t>{w.pad_begin[0], w.pad_begin[1]}
                                                : std::vector<int64_t>{0, 0};
  Tensor y = F::max_pool2d(x, w.kernel, w.strides, padding, w.dilations, ceil_mode).to(in_type);
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
  for (size_t i = 0; i < spatial; ++i)
    c.check(k[i] >= 1 && st[i] >= 1 && k[i] <= kMaxWindowParam && st[i] <= kMaxWindowParam && pb[i] >= 0 && pe[i] >= 0 &&
                pb[i] < kMaxWindowParam && pe[i] < kMaxWindowParam,
            concat("kernel_shape and strides must be 1 to ", kMaxWindowParam, ", pads 0 to ", kMaxWindowParam - 1));
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
// Opset 18's GroupNormalization: statistics per (sample, group of channels); scale and bias
// are per group (opset 21 made them per channel).
Outs op_group_norm(NodeContext& c) {
  const Tensor& x = c.in(0);
  const int64_t groups = c.i("num_groups");
  c.check(x.dim() >= 2 && groups >= 1 && x.size(1) % groups == 0,
          concat("X [N, C, ...] with C divisible by num_groups (", groups, ") expected, got ", shape_str(x.sizes())));
  const std::vector<int64_t> s = sizes_of(x);
  const Tensor g = x.reshape({s[0], groups, -1});
  const Tensor m = mean(g, {2}, true), v = var(g, {2}, 0, true);
  const Tensor y = div(sub(g, m), sqrt(add(v, Scalar(c.f("epsilon", 1e-5)))));
  const Tensor scale = c.in(1).reshape({1, groups, 1}), bias = c.in(2).reshape({1, groups, 1});
  return {add(mul(y, scale), bias).reshape(s)};
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
      {"GlobalAveragePool", 1, op_global_average_pool, "mean"},
      {"GlobalMaxPool", 1, op_global_max_pool, "amax"},
      {"Hardmax", 1, softmax_like<hardmax_fn>, "argmax, eq (2-D coercion before opset 13)"},
      {"GroupNormalization", 18, op_group_norm, "mean, var per group (composite)"},
      {"InstanceNormalization", 1, op_instance_norm, "mean, var (composite)"},
      {"LRN", 1, op_lrn, "composite (sum of shifted squares)"},
      {"LayerNormalization", 17, op_layer_norm, "mean, rsqrt (composite; Mean and InvStdDev outputs)"},
      {"LogSoftmax", 1, softmax_like<log_softmax_fn>, "log_softmax (2-D coercion before opset 13)"},
      {"MatMulInteger", 10, op_matmul_integer, "matmul in float64 (exact), cast to int32"},
      {"MaxPool", 7, op_max_pool, "max_pool2d (1-D, 2-D; 3-D separably; pads: max_pool2d's own when even and at most half the kernel, else a -inf border); Indices: argmax over window offsets"},
      {"MaxUnpool", 9, op_max_unpool, "scatter into zeros"},
      {"MeanVarianceNormalization", 9, op_mvn, "mean, sqrt (composite)"},
      {"NegativeLogLikelihoodLoss", 12, op_nll_loss, "gather, where, sum (composite)"},
      {"QLinearConv", 10, op_qlinear_conv, "conv2d in float64, requantized"},
      {"QLinearMatMul", 10, op_qlinear_matmul, "matmul in float64, requantized"},
      {"QuantizeLinear", 10, op_quantize_linear, "div, round (half to even), add, clamp"},
      {"Softmax", 1, softmax_like<softmax_fn>, "softmax (2-D coercion before opset 13)"},
      {"SoftmaxCrossEntropyLoss", 12, op_softmax_cross_entropy, "log_softmax, gather (composite)"},
  };
}

}  // namespace tessera::onnx::detail
