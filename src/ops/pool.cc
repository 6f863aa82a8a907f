// The pooling ops (NCHW): max_pool2d (with indices), avg_pool2d, adaptive and global
// average pooling, and their gradient ops. Kernels in backends/cpu/pool.cc.
//
// Double backward: average pooling is linear, its gradient op is its adjoint, so each is
// the other's backward. max_pool2d's gradient scatters into the saved argmax indices; the
// gradient of that scatter is a gather at the same indices.
#include <cmath>

#include "ops/conv.h"
#include "tessera/ops.h"

namespace tessera::ops {

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                         int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // The last window must start inside the input or its left padding (PyTorch's rule).
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolAxis avg_pool_axis(const Attrs& attrs, int64_t in, int axis) {
  PoolAxis r;
  const size_t a = static_cast<size_t>(axis);
  if (attrs.has("output_size")) {
    const int64_t out = attrs.ints("output_size")[a];
    for (int64_t i = 0; i < out; ++i) {
      const int64_t b = (i * in) / out;
      const int64_t e = ((i + 1) * in + out - 1) / out;
      r.begin.push_back(b);
      r.end.push_back(e);
      r.div.push_back(e - b);
    }
    return r;
  }
  const int64_t k = attrs.ints("kernel")[a], s = attrs.ints("stride")[a], p = attrs.ints("padding")[a];
  const bool include_pad = attrs.b("count_include_pad");
  const int64_t out = pool_output_size(in, k, s, p, 1, attrs.b("ceil_mode"));
  for (int64_t i = 0; i < out; ++i) {
    const int64_t start = i * s - p;
    const int64_t stop = std::min(start + k, in + p);  // the window clipped to the padding
    const int64_t b = std::max<int64_t>(start, 0), e = std::min(stop, in);
    r.begin.push_back(b);
    r.end.push_back(e);
    r.div.push_back(include_pad ? stop - start : e - b);
  }
  return r;
}

namespace {

using In = std::vector<InputMeta>;

void check_input(const InputMeta& x) {
  TESSERA_CHECK(x.dim() == 4, "expected a 4-D input [N, C, H, W], got ", shape_str(x.sizes()));
  TESSERA_CHECK(is_floating(x.dtype()), "expected a floating-point input, got ",
                dtype_name(x.dtype()));
}

// kernel/stride/padding (and dilation) of max and avg pooling, checked as PyTorch does.
Shape pool_output_shape(IntArrayRef x, const Attrs& attrs, bool has_dilation) {
  TESSERA_CHECK(x.size() == 4, "expected a 4-D input [N, C, H, W], got ", shape_str(x));
  const std::vector<int64_t>& k = attrs.ints("kernel");
  const std::vector<int64_t>& s = attrs.ints("stride");
  const std::vector<int64_t>& p = attrs.ints("padding");
  const std::vector<int64_t> d = has_dilation ? attrs.ints("dilation") : std::vector<int64_t>{1, 1};
  TESSERA_CHECK(k.size() == 2 && k[0] > 0 && k[1] > 0, "kernel size must be two positive values, got ",
                shape_str(k));
  TESSERA_CHECK(s.size() == 2 && s[0] > 0 && s[1] > 0, "stride must be two positive values, got ",
                shape_str(s));
  TESSERA_CHECK(d.size() == 2 && d[0] > 0 && d[1] > 0, "dilation must be two positive values, got ",
                shape_str(d));
  TESSERA_CHECK(p.size() == 2 && p[0] >= 0 && p[1] >= 0 && p[0] <= k[0] / 2 && p[1] <= k[1] / 2,
                "padding ", shape_str(p), " must be non-negative and at most half the kernel size ",
                shape_str(k));
  Shape out{x[0], x[1], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    out[i + 2] = pool_output_size(x[i + 2], k[i], s[i], p[i], d[i], attrs.b("ceil_mode"));
    TESSERA_CHECK(out[i + 2] > 0, "input ", shape_str(x), " is too small for kernel ",
                  shape_str(k), " (output would be ", shape_str(out), ")");
  }
  return out;
}

void check_grad(const InputMeta& gy, IntArrayRef want) {
  TESSERA_CHECK(gy.sizes().equals(want), "expected a gradient of shape ", shape_str(want), ", got ",
                shape_str(gy.sizes()));
}

Shape input_size_attr(const Attrs& attrs) {
  const std::vector<int64_t>& s = attrs.ints("input_size");
  return Shape(IntArrayRef(s));
}

// ---- max ----
// indices=false (F::max_pool2d where no gradient will be taken, as PyTorch does): the
// indices output is empty and the kernel writes none, 8 bytes per output element less.
InferResult infer_max_pool2d(const In& in, const Attrs& attrs) {
  check_input(in[0]);
  const Shape out = pool_output_shape(in[0].sizes(), attrs, true);
  return {{{out, in[0].dtype()}, {attrs.b("indices") ? out : Shape{0}, DType::Int64}}, std::nullopt};
}

InferResult infer_max_pool2d_backward(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(in[1].dtype() == DType::Int64 && in[1].sizes().equals(in[0].sizes()),
                "expected int64 indices of the gradient's shape, got ", in[1].describe());
  check_input(in[0]);
  const Shape size = input_size_attr(attrs);
  TESSERA_CHECK(size.size() == 4 && size[0] == in[0].size(0) && size[1] == in[0].size(1),
                "input_size ", shape_str(size), " does not match the gradient ",
                shape_str(in[0].sizes()));
  return {{{size, in[0].dtype()}}, std::nullopt};
}

std::vector<Tensor> max_pool2d_backward_rule(const BackwardCall& c) {
  const IntArrayRef size = c.input_sizes(0);
  return {call1(kMaxPool2dBackward, {c.grad(0), c.output(1)},
                {{"input_size", std::vector<int64_t>(size.begin(), size.end())}})};
}

// gx = scatter_add(gy at indices): its gradient w.r.t. gy gathers at the indices.
std::vector<Tensor> max_pool2d_backward_backward(const BackwardCall& c) {
  const Tensor& gg = c.grad(0);
  const Tensor& idx = c.input(1);
  Tensor r = gather(gg.flatten(2), 2, idx.flatten(2)).view(idx.sizes());
  return {r, Tensor()};
}

// ---- average ----
Attrs avg_pool_attrs(const Attrs& a) {
  return {{"kernel", a.ints("kernel")},
          {"stride", a.ints("stride")},
          {"padding", a.ints("padding")},
          {"ceil_mode", a.b("ceil_mode")},
          {"count_include_pad", a.b("count_include_pad")}};
}

InferResult infer_avg_pool2d(const In& in, const Attrs& attrs) {
  check_input(in[0]);
  return {{{pool_output_shape(in[0].sizes(), attrs, false), in[0].dtype()}}, std::nullopt};
}

InferResult infer_avg_pool2d_backward(const In& in, const Attrs& attrs) {
  const Shape size = input_size_attr(attrs);
  TESSERA_CHECK(size.size() == 4, "input_size must have 4 dims, got ", shape_str(size));
  check_input(in[0]);
  check_grad(in[0], pool_output_shape(size, attrs, false));
  return {{{size, in[0].dtype()}}, std::nullopt};
}

std::vector<Tensor> avg_pool2d_backward_rule(const BackwardCall& c) {
  Attrs a = avg_pool_attrs(c.attrs());
  const IntArrayRef size = c.input_sizes(0);
  a.add({"input_size", std::vector<int64_t>(size.begin(), size.end())});
  return {call1(kAvgPool2dBackward, {c.grad(0)}, a)};
}

std::vector<Tensor> avg_pool2d_backward_backward(const BackwardCall& c) {
  return {call1(kAvgPool2d, {c.grad(0)}, avg_pool_attrs(c.attrs()))};
}

// ---- adaptive / global average ----
InferResult infer_adaptive(const In& in, const Attrs& attrs) {
  check_input(in[0]);
  const std::vector<int64_t>& os = attrs.ints("output_size");
  TESSERA_CHECK(os.size() == 2 && os[0] > 0 && os[1] > 0,
                "output_size must be two positive values, got ", shape_str(os));
  return {{{Shape{in[0].size(0), in[0].size(1), os[0], os[1]}, in[0].dtype()}}, std::nullopt};
}

InferResult infer_adaptive_backward(const In& in, const Attrs& attrs) {
  check_input(in[0]);
  const Shape size = input_size_attr(attrs);
  TESSERA_CHECK(size.size() == 4 && size[0] == in[0].size(0) && size[1] == in[0].size(1),
                "input_size ", shape_str(size), " does not match the gradient ",
                shape_str(in[0].sizes()));
  const std::vector<int64_t>& os = attrs.ints("output_size");
  check_grad(in[0], Shape{size[0], size[1], os[0], os[1]});
  return {{{size, in[0].dtype()}}, std::nullopt};
}

std::vector<Tensor> adaptive_backward_rule(const BackwardCall& c) {
  const IntArrayRef size = c.input_sizes(0);
  const Tensor& g = c.grad(0);
  return {call1(kAdaptiveAvgPool2dBackward, {g},
                {{"output_size", std::vector<int64_t>{g.size(2), g.size(3)}},
                 {"input_size", std::vector<int64_t>(size.begin(), size.end())}})};
}

std::vector<Tensor> adaptive_backward_backward(const BackwardCall& c) {
  return {call1(kAdaptiveAvgPool2d, {c.grad(0)}, {{"output_size", c.attrs().ints("output_size")}})};
}

}  // namespace

OpDef kMaxPool2d{"max_pool2d", 1, kDifferentiable,
                 {attr("kernel", AttrType::Ints), attr("stride", AttrType::Ints),
                  attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0}),
                  attr("dilation", AttrType::Ints, std::vector<int64_t>{1, 1}),
                  attr("ceil_mode", AttrType::Bool, false), attr("indices", AttrType::Bool, true)},
                 infer_max_pool2d, nullptr, "MaxPool",
                 max_pool2d_backward_rule};
OpDef kMaxPool2dBackward{"max_pool2d_backward", 2, kDifferentiable,
                         {attr("input_size", AttrType::Ints)},
                         infer_max_pool2d_backward,
                         nullptr, nullptr, max_pool2d_backward_backward};
OpDef kAvgPool2d{"avg_pool2d", 1, kDifferentiable,
                 {attr("kernel", AttrType::Ints), attr("stride", AttrType::Ints),
                  attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0}),
                  attr("ceil_mode", AttrType::Bool, false),
                  attr("count_include_pad", AttrType::Bool, true)},
                 infer_avg_pool2d, nullptr, "AveragePool",
                 avg_pool2d_backward_rule};
OpDef kAvgPool2dBackward{"avg_pool2d_backward", 1, kDifferentiable,
                         {attr("kernel", AttrType::Ints), attr("stride", AttrType::Ints),
                          attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0}),
                          attr("ceil_mode", AttrType::Bool, false),
                          attr("count_include_pad", AttrType::Bool, true),
                          attr("input_size", AttrType::Ints)},
                         infer_avg_pool2d_backward,
                         nullptr, nullptr, avg_pool2d_backward_backward};
// ONNX has no adaptive pooling; an exporter with static shapes can write a divisible case
// as AveragePool. The 1x1 case is its own op so that it maps to GlobalAveragePool.
OpDef kAdaptiveAvgPool2d{"adaptive_avg_pool2d", 1, kDifferentiable,
                         {attr("output_size", AttrType::Ints)},
                         infer_adaptive, nullptr,
                         nullptr, adaptive_backward_rule};
OpDef kGlobalAvgPool2d{"global_avg_pool2d", 1, kDifferentiable,
                       {attr("output_size", AttrType::Ints)},
                       infer_adaptive, nullptr,
                       "GlobalAveragePool", adaptive_backward_rule};
OpDef kAdaptiveAvgPool2dBackward{"adaptive_avg_pool2d_backward", 1, kDifferentiable,
                                 {attr("output_size", AttrType::Ints), attr("input_size", AttrType::Ints)},
                                 infer_adaptive_backward, nullptr, nullptr,
                                 adaptive_backward_backward};

void register_pool_ops() {
  for (OpDef* op : {&kMaxPool2d, &kMaxPool2dBackward, &kAvgPool2d, &kAvgPool2dBackward,
                    &kAdaptiveAvgPool2d, &kGlobalAvgPool2d, &kAdaptiveAvgPool2dBackward})
    register_op(*op);
}

}  // namespace tessera::ops
