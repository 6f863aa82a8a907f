// The convolution ops: shape rules and backward rules of conv2d, its two gradient ops and
// conv_transpose2d. Pooling lives in pool.cc; kernels in backends/cpu/conv.cc.
//
// The three convolution ops are bilinear, and each one's backward rule uses the others:
//   y  = conv2d(x, w)                 gx = backward_input(gy, w), gw = backward_weight(x, gy)
//   gx = backward_input(gy, w)        d gy = conv2d(ggx, w),      d w = backward_weight(ggx, gy)
//   gw = backward_weight(x, gy)       d x = backward_input(gy, ggw), d gy = conv2d(x, ggw)
// (each follows from <a, op(b, c)> being one scalar read three ways), so gradients of any
// order stay inside the family.
#include "ops/conv.h"

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {

ConvGeometry conv_geometry(IntArrayRef in, IntArrayRef wt, const Attrs& attrs) {
  const std::vector<int64_t>& stride = attrs.ints("stride");
  const std::vector<int64_t>& dilation = attrs.ints("dilation");
  const std::vector<int64_t>& padding = attrs.ints("padding");
  const int64_t groups = attrs.i("groups");
  TESSERA_CHECK(stride.size() == 2 && stride[0] > 0 && stride[1] > 0,
                "stride must be two positive values, got ", shape_str(stride));
  TESSERA_CHECK(dilation.size() == 2 && dilation[0] > 0 && dilation[1] > 0,
                "dilation must be two positive values, got ", shape_str(dilation));
  TESSERA_CHECK(padding.size() == 4 && padding[0] >= 0 && padding[1] >= 0 && padding[2] >= 0 &&
                    padding[3] >= 0,
                "padding must be non-negative, got ", shape_str(padding));
  TESSERA_CHECK(groups > 0, "groups must be positive, got ", groups);
  check_precision(attrs);
  if (attrs.has("algorithm")) {
    const std::string& algo = attrs.get<std::string>("algorithm");
    TESSERA_CHECK(algo == "direct" || algo == "winograd" || algo == "winograd_4x4",
                  "algorithm must be \"direct\", \"winograd\" or \"winograd_4x4\", got \"", algo, "\"");
  }
  TESSERA_CHECK(in.size() == 4, "expected a 4-D input [N, C, H, W], got ", shape_str(in));
  TESSERA_CHECK(wt.size() == 4,
                "expected a 4-D weight [out_channels, in_channels / groups, kh, kw], got ",
                shape_str(wt));
  TESSERA_CHECK(wt[0] % groups == 0, "out_channels (", wt[0], ", weight ", shape_str(wt),
                ") must be divisible by groups (", groups, ")");
  TESSERA_CHECK(in[1] == wt[1] * groups, "input ", shape_str(in), " has ", in[1],
                " channels but weight ", shape_str(wt), " with groups=", groups, " expects ",
                wt[1] * groups);
  ConvGeometry g;
  g.n = in[0];
  g.c = in[1];
  g.h = in[2];
  g.w = in[3];
  g.o = wt[0];
  g.kh = wt[2];
  g.kw = wt[3];
  g.groups = groups;
  const int64_t spatial_in[2] = {g.h, g.w};
  const int64_t kernel[2] = {g.kh, g.kw};
  int64_t out[2];
  for (int d = 0; d < 2; ++d) {
    g.stride[d] = stride[static_cast<size_t>(d)];
    g.dilation[d] = dilation[static_cast<size_t>(d)];
    g.pad_begin[d] = padding[static_cast<size_t>(d)];
    const int64_t padded = spatial_in[d] + padding[static_cast<size_t>(d)] + padding[static_cast<size_t>(d + 2)];
    const int64_t extent = g.dilation[d] * (kernel[d] - 1) + 1;
    TESSERA_CHECK(kernel[d] > 0, "kernel size must be positive, got weight ", shape_str(wt));
    TESSERA_CHECK(padded >= extent, "input ", shape_str(in), " padded to ", padded, " along dim ",
                  d + 2, " is smaller than the dilated kernel (", extent, ")");
    out[d] = (padded - extent) / g.stride[d] + 1;
    g.pad_end[d] = (out[d] - 1) * g.stride[d] + extent - spatial_in[d] - g.pad_begin[d];
  }
  g.oh = out[0];
  g.ow = out[1];
  return g;
}

bool winograd_suits(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 &&
         g.dilation[1] == 1 && g.groups == 1 && g.c >= kWinogradMinChannels && g.o >= kWinogradMinChannels;
}

bool winograd_pays(const ConvGeometry& g) { return winograd_suits(g) && g.n * g.oh * g.ow >= kWinogradMinPositions; }

bool winograd_pays(IntArrayRef input, IntArrayRef weight, const Attrs& attrs) {
  if (input.size() != 4 || weight.size() != 4 || weight[2] != 3 || weight[3] != 3 || input[1] != weight[1] ||
      input[1] < kWinogradMinChannels || weight[0] < kWinogradMinChannels)
    return false;
  try {
    return winograd_pays(conv_geometry(input, weight, attrs));
  } catch (const Error&) {
    return false;  // the op's own call reports it
  }
}

namespace {

using In = std::vector<InputMeta>;

DType float_result(const In& in) {
  const DType dt = result_type(in);
  TESSERA_CHECK(is_floating(dt), "expected floating-point tensors, got ", dtype_name(dt));
  return dt;
}

void check_bias(const In& in, int64_t channels) {
  if (in.size() < 3) return;
  TESSERA_CHECK(in[2].dim() == 1 && in[2].size(0) == channels, "expected a bias of shape [",
                channels, "], got ", shape_str(in[2].sizes()));
}

InferResult infer_conv2d(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(in.size() == 2 || in.size() == 3, "expected (input, weight[, bias]), got ",
                in.size(), " tensors");
  const ConvGeometry g = conv_geometry(in[0].sizes(), in[1].sizes(), attrs);
  check_bias(in, g.o);
  const DType dt = float_result(in);
  return {{{Shape{g.n, g.o, g.oh, g.ow}, dt}}, dt};
}

void check_grad_output(const InputMeta& gy, const ConvGeometry& g) {
  const Shape want{g.n, g.o, g.oh, g.ow};
  TESSERA_CHECK(gy.sizes().equals(want), "expected a gradient of shape ", shape_str(want),
                ", got ", shape_str(gy.sizes()));
}

InferResult infer_backward_input(const In& in, const Attrs& attrs) {
  const std::vector<int64_t>& input_size = attrs.ints("input_size");
  const ConvGeometry g = conv_geometry(input_size, in[1].sizes(), attrs);
  check_grad_output(in[0], g);
  const DType dt = float_result(in);
  return {{{Shape(IntArrayRef(input_size)), dt}}, dt};
}

InferResult infer_backward_weight(const In& in, const Attrs& attrs) {
  const std::vector<int64_t>& weight_size = attrs.ints("weight_size");
  const ConvGeometry g = conv_geometry(in[0].sizes(), weight_size, attrs);
  check_grad_output(in[1], g);
  const DType dt = float_result(in);
  return {{{Shape(IntArrayRef(weight_size)), dt}}, dt};
}

InferResult infer_conv_transpose2d(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(in.size() == 2 || in.size() == 3, "expected (input, weight[, bias]), got ",
                in.size(), " tensors");
  const InputMeta& x = in[0];
  const InputMeta& w = in[1];
  TESSERA_CHECK(x.dim() == 4, "expected a 4-D input [N, C, H, W], got ", shape_str(x.sizes()));
  TESSERA_CHECK(w.dim() == 4,
                "expected a 4-D weight [in_channels, out_channels / groups, kh, kw], got ",
                shape_str(w.sizes()));
  TESSERA_CHECK(x.size(1) == w.size(0), "input ", shape_str(x.sizes()), " has ", x.size(1),
                " channels but weight ", shape_str(w.sizes()), " expects ", w.size(0));
  const int64_t groups = attrs.i("groups");
  TESSERA_CHECK(groups > 0 && w.size(0) % groups == 0, "in_channels (", w.size(0),
                ") must be divisible by groups (", groups, ")");
  const std::vector<int64_t>& stride = attrs.ints("stride");
  const std::vector<int64_t>& dilation = attrs.ints("dilation");
  const std::vector<int64_t>& padding = attrs.ints("padding");
  const std::vector<int64_t>& out_pad = attrs.ints("output_padding");
  TESSERA_CHECK(stride.size() == 2 && dilation.size() == 2 && padding.size() == 4 &&
                    out_pad.size() == 2,
                "expected 2 strides, 2 dilations, 4 paddings and 2 output paddings");
  Shape out{x.size(0), w.size(1) * groups, 0, 0};
  for (size_t d = 0; d < 2; ++d) {
    TESSERA_CHECK(out_pad[d] >= 0 && (out_pad[d] < stride[d] || out_pad[d] < dilation[d]),
                  "output_padding (", shape_str(out_pad),
                  ") must be smaller than either stride (", shape_str(stride),
                  ") or dilation (", shape_str(dilation), ")");
    out[d + 2] = (x.size(static_cast<int64_t>(d) + 2) - 1) * stride[d] - padding[d] - padding[d + 2] +
                 dilation[d] * (w.size(static_cast<int64_t>(d) + 2) - 1) + out_pad[d] + 1;
    TESSERA_CHECK(out[d + 2] > 0, "the output size ", shape_str(out), " is not positive");
  }
  // The convolution this transposes must map the output back onto the input's size.
  const ConvGeometry g = conv_geometry(out, w.sizes(), attrs);
  TESSERA_CHECK(g.oh == x.size(2) && g.ow == x.size(3), "output_padding ", shape_str(out_pad),
                " is inconsistent with the input size ", shape_str(x.sizes()));
  check_bias(in, out[1]);
  const DType dt = float_result(in);
  return {{{out, dt}}, dt};
}

// The geometry attributes without the op-specific ones (input_size etc).
// (The precision autocast chose goes with them: a convolution's gradients multiply in the
// precision it did.)
Attrs geometry_attrs(const Attrs& a) {
  Attrs r{{"stride", a.ints("stride")},
          {"padding", a.ints("padding")},
          {"dilation", a.ints("dilation")},
          {"groups", a.i("groups")},
          {"algorithm", a.get<std::string>("algorithm")}};
  if (a.has("precision")) r.add({"precision", a.get<std::string>("precision")});
  return r;
}
Attrs with_size(const Attrs& a, std::string_view name, IntArrayRef size) {
  Attrs r = geometry_attrs(a);
  r.add({name, std::vector<int64_t>(size.begin(), size.end())});
  return r;
}

Tensor bias_grad(const Tensor& g) { return sum(g, {0, 2, 3}); }

std::vector<Tensor> conv2d_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  std::vector<Tensor> r(c.num_inputs());
  if (c.needs(0))
    r[0] = call1(kConv2dBackwardInput, {g, c.input(1)}, with_size(c.attrs(), "input_size", c.input_sizes(0)));
  if (c.needs(1))
    r[1] = call1(kConv2dBackwardWeight, {c.input(0), g}, with_size(c.attrs(), "weight_size", c.input_sizes(1)));
  if (c.num_inputs() == 3 && c.needs(2)) r[2] = bias_grad(g);
  return r;
}

// inputs (gy, w) -> gx
std::vector<Tensor> backward_input_backward(const BackwardCall& c) {
  const Tensor& gg = c.grad(0);
  std::vector<Tensor> r(2);
  if (c.needs(0)) r[0] = call1(kConv2d, {gg, c.input(1)}, geometry_attrs(c.attrs()));
  if (c.needs(1))
    r[1] = call1(kConv2dBackwardWeight, {gg, c.input(0)}, with_size(c.attrs(), "weight_size", c.input_sizes(1)));
  return r;
}

// inputs (x, gy) -> gw
std::vector<Tensor> backward_weight_backward(const BackwardCall& c) {
  const Tensor& gg = c.grad(0);
  std::vector<Tensor> r(2);
  if (c.needs(0))
    r[0] = call1(kConv2dBackwardInput, {c.input(1), gg}, with_size(c.attrs(), "input_size", c.input_sizes(0)));
  if (c.needs(1)) r[1] = call1(kConv2d, {c.input(0), gg}, geometry_attrs(c.attrs()));
  return r;
}

// y = conv_transpose2d(x, w) is backward_input(x, w) of the convolution from y's size to
// x's, so its gradients are that op's.
std::vector<Tensor> conv_transpose2d_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  std::vector<Tensor> r(c.num_inputs());
  if (c.needs(0)) r[0] = call1(kConv2d, {g, c.input(1)}, geometry_attrs(c.attrs()));
  if (c.needs(1))
    r[1] = call1(kConv2dBackwardWeight, {g, c.input(0)}, with_size(c.attrs(), "weight_size", c.input_sizes(1)));
  if (c.num_inputs() == 3 && c.needs(2)) r[2] = bias_grad(g);
  return r;
}

}  // namespace

namespace {
// The geometry every convolution op takes; padding is [top, left, bottom, right] (the
// functional API's "same" may pad one side more), the backward ops add the size they
// rebuild and the transposed one its output_padding.
AttrSchema conv_attrs(std::optional<AttrSpec> extra = std::nullopt) {
  AttrSchema s{attr("stride", AttrType::Ints, std::vector<int64_t>{1, 1}),
               attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0, 0, 0}),
               attr("dilation", AttrType::Ints, std::vector<int64_t>{1, 1}),
               attr("groups", AttrType::Int, int64_t{1}),
               // "direct", or "winograd": asked for where it pays (winograd_pays, ops/conv.h)
               // by nn::functional::conv2d and by the graph pass that prepares frozen
               // graphs; the backward rule passes it on to the gradient ops. The backend
               // runs direct where it has no Winograd kernel. "winograd_4x4" (F(4x4, 3x3),
               // which inference graphs' conv2d_blocked ask for) runs as "winograd" where
               // the backend has no such kernel. Not a numerical contract: results agree
               // to float32 rounding either way.
               attr("algorithm", AttrType::String, std::string("direct")),
               // "float32", or "bf16": autocast's (tessera/autocast.h) operands rounded to
               // bfloat16, float32 accumulation and output.
               attr("precision", AttrType::String, std::string("float32"))};
  if (extra) s.push_back(*extra);
  return s;
}
}  // namespace

OpDef kConv2d{"conv2d", -1, kDifferentiable, conv_attrs(), infer_conv2d, nullptr, "Conv", conv2d_backward};
// The gradient ops have no ONNX operator of their own (an exporter writes backward_input
// as ConvTranspose); graphs of inference never contain them.
OpDef kConv2dBackwardInput{"conv2d_backward_input", 2, kDifferentiable,
                           conv_attrs(attr("input_size", AttrType::Ints)), infer_backward_input,
                           nullptr, nullptr, backward_input_backward};
OpDef kConv2dBackwardWeight{"conv2d_backward_weight", 2, kDifferentiable,
                            conv_attrs(attr("weight_size", AttrType::Ints)), infer_backward_weight,
                            nullptr, nullptr, backward_weight_backward};
OpDef kConvTranspose2d{"conv_transpose2d", -1, kDifferentiable,
                       conv_attrs(attr("output_padding", AttrType::Ints, std::vector<int64_t>{0, 0})),
                       infer_conv_transpose2d, nullptr, "ConvTranspose", conv_transpose2d_backward};

void register_conv_ops() {
  for (OpDef* op : {&kConv2d, &kConv2dBackwardInput, &kConv2dBackwardWeight, &kConvTranspose2d})
    register_op(*op);
  register_pool_ops();
  register_conv_blocked_ops();
}

}  // namespace tessera::ops
