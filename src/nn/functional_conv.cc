// The convolution and pooling functions of nn::functional: argument normalisation
// (single values for both dims, "same"/"valid" padding, unbatched inputs, conv1d as a
// conv2d over a unit height) in front of the ops in ops/conv.cc and ops/pool.cc.
#include "ops/conv.h"
#include "tessera/autocast.h"
#include "tessera/grad_mode.h"
#include "tessera/nn/functional.h"

namespace tessera::nn::functional {
namespace {

// A 2-D argument given as one value (used for both dims) or two.
std::vector<int64_t> two(IntArrayRef v, const char* what, const char* fn) {
  TESSERA_CHECK(v.size() == 1 || v.size() == 2, fn, ": ", what, " must have 1 or 2 values, got ",
                shape_str(v));
  return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : std::vector<int64_t>{v[0], v[1]};
}

// PyTorch accepts [C, H, W] as one unbatched image: run it as a batch of one.
template <typename F>
Tensor batched(const Tensor& x, const char* fn, F&& run) {
  TESSERA_CHECK(x.defined(), fn, ": the input is an undefined tensor");
  TESSERA_CHECK(x.dim() == 3 || x.dim() == 4, fn, ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
                x.describe());
  if (x.dim() == 3) return run(x.unsqueeze(0)).squeeze(0);
  return run(x);
}

std::vector<Tensor> conv_inputs(const Tensor& x, const Tensor& w, const Tensor& b) {
  std::vector<Tensor> in{x, w};
  if (b.defined()) in.push_back(b);
  return in;
}

// CNN28's first layer (1 -> 32 channels, 3 x 3, batch 64) at 1 thread, float32 -> bf16:
// forward 0.48 -> 0.51 ms, weight gradient 0.38 -> 0.66 ms. CNN64's (3 input channels, 27
// products an output) gains from bf16: forward 3.00 -> 2.32 ms.
constexpr int64_t kBf16MinReduction = 16;

Tensor conv2d_padded(const Tensor& x, const Tensor& w, const Tensor& b, IntArrayRef stride,
                     std::vector<int64_t> padding4, IntArrayRef dilation, int64_t groups) {
  ops::Attrs attrs{{"stride", two(stride, "stride", "conv2d")},
                   {"padding", std::move(padding4)},
                   {"dilation", two(dilation, "dilation", "conv2d")},
                   {"groups", groups}};
  // Under autocast (tessera/autocast.h) the op itself says it multiplies in bfloat16: its
  // gradients, computed later, and a traced graph keep that. Not where each output sums
  // fewer than kBf16MinReduction products (a grayscale image's first layer, 1 x 3 x 3):
  // such a convolution is bound by memory, not by its multiplications, so bfloat16 would
  // only add its conversions. It stays float32, which is also exact.
  const bool short_reduction = w.defined() && w.dim() == 4 && w.size(1) * w.size(2) * w.size(3) < kBf16MinReduction;
  if (autocast_bf16_active() && x.defined() && x.dtype() == DType::Float32 && !short_reduction) {
    attrs.add({"precision", std::string("bf16")});
  }
  return batched(x, "conv2d", [&](const Tensor& xb) {
    // Winograd where it pays (ops::winograd_pays), recorded on the op like the precision:
    // its gradient ops and a traced graph run the same algorithm, so compiled training
    // matches eager. In float32 oneDNN's kernels run it; in bf16 the CPU backend's own
    // (backends/cpu/winograd_bf16.h) runs the forward and input-gradient passes.
    if (xb.dtype() == DType::Float32 && w.defined() && ops::winograd_pays(xb.sizes(), w.sizes(), attrs))
      attrs.add({"algorithm", std::string("winograd")});
    return ops::call1(ops::kConv2d, conv_inputs(xb, w, b), attrs);
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              IntArrayRef padding, IntArrayRef dilation, int64_t groups, CallSite at) {
  detail::UserCallScope scope(at);
  const std::vector<int64_t> p = two(padding, "padding", "conv2d");
  return conv2d_padded(x, weight, bias, stride, {p[0], p[1], p[0], p[1]}, dilation, groups);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              const PaddingMode& mode, IntArrayRef dilation, int64_t groups, CallSite at) {
  detail::UserCallScope scope(at);
  const std::string& padding = mode.name;
  if (padding == "valid") return conv2d_padded(x, weight, bias, stride, {0, 0, 0, 0}, dilation, groups);
  TESSERA_CHECK(padding == "same", "conv2d: padding must be \"same\" or \"valid\", got \"", padding, "\"");
  const std::vector<int64_t> s = two(stride, "stride", "conv2d");
  TESSERA_CHECK(s[0] == 1 && s[1] == 1, "conv2d: padding=\"same\" needs stride 1, got ", shape_str(s));
  TESSERA_CHECK(weight.defined() && weight.dim() == 4, "conv2d: expected a 4-D weight, got ",
                weight.defined() ? weight.describe() : std::string("<undefined>"));
  const std::vector<int64_t> d = two(dilation, "dilation", "conv2d");
  // Total padding d * (k - 1) keeps the size; an odd total puts the extra row at the end.
  std::vector<int64_t> pad(4);
  for (size_t i = 0; i < 2; ++i) {
    const int64_t total = d[i] * (weight.size(static_cast<int64_t>(i) + 2) - 1);
    pad[i] = total / 2;
    pad[i + 2] = total - total / 2;
  }
  return conv2d_padded(x, weight, bias, stride, std::move(pad), dilation, groups);
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3),
                "conv1d: expected a 2-D [C, L] or 3-D [N, C, L] input, got ",
                x.defined() ? x.describe() : std::string("<undefined>"));
  TESSERA_CHECK(weight.defined() && weight.dim() == 3,
                "conv1d: expected a 3-D weight [out_channels, in_channels / groups, k], got ",
                weight.defined() ? weight.describe() : std::string("<undefined>"));
  // [.., C, L] -> [.., C, 1, L]: a conv2d whose kernel has height 1.
  const std::vector<int64_t> stride2{1, stride}, padding2{0, padding}, dilation2{1, dilation};
  const Tensor y = conv2d(x.unsqueeze(-2), weight.unsqueeze(2), bias, stride2, IntArrayRef(padding2),
                          dilation2, groups);
  return y.squeeze(-2);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        IntArrayRef stride, IntArrayRef padding, IntArrayRef output_padding,
                        int64_t groups, IntArrayRef dilation, CallSite at) {
  detail::UserCallScope scope(at);
  const std::vector<int64_t> p = two(padding, "padding", "conv_transpose2d");
  ops::Attrs attrs{{"stride", two(stride, "stride", "conv_transpose2d")},
                   {"padding", std::vector<int64_t>{p[0], p[1], p[0], p[1]}},
                   {"output_padding", two(output_padding, "output_padding", "conv_transpose2d")},
                   {"dilation", two(dilation, "dilation", "conv_transpose2d")},
                   {"groups", groups}};
  return batched(x, "conv_transpose2d", [&](const Tensor& xb) {
    return ops::call1(ops::kConvTranspose2d, conv_inputs(xb, weight, bias), attrs);
  });
}

Tensor max_pool2d(const Tensor& x, IntArrayRef kernel, IntArrayRef stride, IntArrayRef padding,
                  IntArrayRef dilation, bool ceil_mode, CallSite at) {
  detail::UserCallScope scope(at);
  const std::vector<int64_t> k = two(kernel, "kernel size", "max_pool2d");
  ops::Attrs attrs{{"kernel", k},
                   {"stride", stride.empty() ? k : two(stride, "stride", "max_pool2d")},
                   {"padding", two(padding, "padding", "max_pool2d")},
                   {"dilation", two(dilation, "dilation", "max_pool2d")},
                   {"ceil_mode", ceil_mode},
                   // The argmax indices serve only the gradient: none under NoGradGuard.
                   {"indices", autograd::is_grad_enabled()}};
  return batched(x, "max_pool2d", [&](const Tensor& xb) {
    return ops::call(ops::kMaxPool2d, {xb}, attrs)[0];
  });
}

Tensor avg_pool2d(const Tensor& x, IntArrayRef kernel, IntArrayRef stride, IntArrayRef padding,
                  bool ceil_mode, bool count_include_pad, CallSite at) {
  detail::UserCallScope scope(at);
  const std::vector<int64_t> k = two(kernel, "kernel size", "avg_pool2d");
  ops::Attrs attrs{{"kernel", k},
                   {"stride", stride.empty() ? k : two(stride, "stride", "avg_pool2d")},
                   {"padding", two(padding, "padding", "avg_pool2d")},
                   {"ceil_mode", ceil_mode},
                   {"count_include_pad", count_include_pad}};
  return batched(x, "avg_pool2d", [&](const Tensor& xb) { return ops::call1(ops::kAvgPool2d, {xb}, attrs); });
}

Tensor adaptive_avg_pool2d(const Tensor& x, IntArrayRef output_size, CallSite at) {
  detail::UserCallScope scope(at);
  const std::vector<int64_t> os = two(output_size, "output_size", "adaptive_avg_pool2d");
  const ops::OpDef& op = os[0] == 1 && os[1] == 1 ? ops::kGlobalAvgPool2d : ops::kAdaptiveAvgPool2d;
  return batched(x, "adaptive_avg_pool2d",
                 [&](const Tensor& xb) { return ops::call1(op, {xb}, {{"output_size", os}}); });
}

}  // namespace tessera::nn::functional
