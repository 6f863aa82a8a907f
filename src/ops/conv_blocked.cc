// The channel-blocked ops of compiled graphs (graph/passes/select_conv_layouts.cc).
//
// oneDNN's fastest CPU convolutions read and write activations with the channels split
// into blocks of `b` (16 with AVX-512, 8 with AVX2): [N, C, H, W] is held as
// [N, ceil(C / b), H, W, b], zero-padded. Eager mode converts to that layout and back
// around every convolution (and re-lays out the weights every call); a frozen graph
// instead keeps chains of convolutions and max pooling in it, packs the weights once (a
// constant), and converts only where a plain op reads the data. These are ordinary ops
// with real shapes, so the graph stays shape-checked, planned and serializable:
//   to_blocked(x) {block}        [N, C, H, W]    -> [N, Cb, H, W, b]
//   from_blocked(x) {channels}   [N, Cb, H, W, b] -> [N, C, H, W]
//   pack_conv_weight(w) {block, blocked_input}
//       [O, C, kh, kw] -> [Ob, Cb, kh, kw, b(in), b(out)]  (blocked input; oneDNN's OIhw16i16o)
//                      -> [Ob, kh, kw, C, b(out)]          (plain input;   oneDNN's Ohwi16o)
//   conv2d_blocked(x, w, bias[, residual]) {conv2d's geometry, in_channels,
//       out_channels, activation, algorithm}: y = act(conv(x) + bias [+ residual]), y
//       blocked; x blocked (5-D) or plain (4-D, the first layer's few channels). Float32
//       (oneDNN). w packed, or plain [O, C, kh, kw] with a blocked input (the backend lays
//       it out once per weight tensor). algorithm "winograd" (3x3, stride 1, blocked input,
//       plain weight: Winograd's weight layout is the backend's own) asks for Winograd
//       F(2x2, 3x3), 2.25x fewer multiplications (oneDNN's kernels, or the backend's own:
//       backends/cpu/winograd_f32.h), "winograd_4x4" for F(4x4, 3x3), 4x fewer at a
//       larger rounding error (inference graphs only); the backend runs the nearest it has.
//   max_pool2d_blocked(x) {max_pool2d's attributes}: values only (inference needs no indices).
// A training step keeps its convolutions' activations and gradients blocked too:
//   conv2d_backward_input_blocked(gy, w) {conv2d_backward_input's attributes}
//       blocked gy [N, O/b, OH, OW, b], plain w -> blocked gx [N, C/b, H, W, b]
//   conv2d_backward_weight_blocked(x, gy) {conv2d_backward_weight's attributes}
//       x blocked or plain (the first layer's), blocked gy -> plain gw [O, C, kh, kw]
//   max_pool2d_indices_blocked(x) {max_pool2d's attributes} -> blocked values and int64
//       indices, each the position within its channel's plane, as max_pool2d's
//   max_pool2d_backward_blocked(gy, indices) {input_size: the plain [N, C, H, W]}
//       -> blocked gx, gy scattered to the indices (summed where windows overlap)
//   channel_sum_blocked(x) {channels} [N, C/b, H, W, b] -> [C] (a conv bias's gradient)
//   conv2d_max_pool2x2_blocked(x, w, bias) {conv2d_blocked's attributes, activation
//       "none"} -> max_pool2d_indices_blocked's two outputs for the 2x2 windows at stride 2
//       of conv2d_blocked(x, w, bias): the pooled values and int64 indices, exactly. The
//       backend's Winograd (bf16, and float32 on blocks of 8) pools each 2x2 output tile
//       as it computes it and never writes the convolution's output; elsewhere it runs
//       the two ops (graph/passes/fuse_conv_pool.cc makes it).
//   conv2d_max_pool2x2_values_blocked(x, w, bias) {conv2d_blocked's attributes, activation
//       "none" or "relu"} -> max_pool2d_blocked(conv2d_blocked(x, w, bias)) for the same
//       windows: an inference graph's. The float32 Winograd pools its tiles, then applies
//       the ReLU, which commutes with the maximum (the values are the same but for the
//       sign of a zero maximum).
//   conv2d_backward_input_unpool_blocked(gp, idx, w) {conv2d_backward_input_blocked's}
//   conv2d_backward_weight_unpool_blocked(x, gp, idx) {conv2d_backward_weight_blocked's}
//       the two gradient passes of such a convolution, reading its output gradient as
//       max_pool2d_backward_blocked(gp, idx) would write it (gp and idx the pooled
//       gradient and the fused pooling's indices): the backend's Winograd (bf16, float32) builds
//       each tile from them and the unpooled gradient is never written; elsewhere it
//       unpools, then runs the plain pass.
// Not differentiable: the pass writes them into graphs autograd has already run over.
#include "ops/conv.h"

namespace tessera::ops {

Attrs two_by_two_pool() {
  return {{"kernel", std::vector<int64_t>{2, 2}}, {"stride", std::vector<int64_t>{2, 2}},
          {"padding", std::vector<int64_t>{0, 0}}, {"dilation", std::vector<int64_t>{1, 1}}, {"ceil_mode", false}};
}

namespace {

using In = std::vector<InputMeta>;

int64_t blocks_of(int64_t channels, int64_t block) { return (channels + block - 1) / block; }

void check_block(int64_t block) {
  TESSERA_CHECK(block == 8 || block == 16, "block must be 8 or 16, got ", block);
}

void check_blocked_input(const InputMeta& x, const char* what) {
  TESSERA_CHECK(x.dim() == 5, "expected a blocked ", what, " [N, C/b, H, W, b], got ", shape_str(x.sizes()));
  check_block(x.size(4));
}

InferResult infer_to_blocked(const In& in, const Attrs& attrs) {
  const InputMeta& x = in[0];
  const int64_t b = attrs.i("block");
  check_block(b);
  TESSERA_CHECK(x.dim() == 4, "expected a 4-D input [N, C, H, W], got ", shape_str(x.sizes()));
  TESSERA_CHECK(is_floating(x.dtype()), "expected a floating-point input, got ", dtype_name(x.dtype()));
  return {{{Shape{x.size(0), blocks_of(x.size(1), b), x.size(2), x.size(3), b}, x.dtype()}}, std::nullopt};
}

InferResult infer_from_blocked(const In& in, const Attrs& attrs) {
  const InputMeta& x = in[0];
  check_blocked_input(x, "input");
  const int64_t c = attrs.i("channels"), b = x.size(4);
  TESSERA_CHECK(c > (x.size(1) - 1) * b && c <= x.size(1) * b, "channels ", c, " do not fit ", x.size(1),
                " blocks of ", b, " (expected ", (x.size(1) - 1) * b + 1, " to ", x.size(1) * b, ")");
  return {{{Shape{x.size(0), c, x.size(2), x.size(3)}, x.dtype()}}, std::nullopt};
}

Shape packed_weight_shape(int64_t o, int64_t c, int64_t kh, int64_t kw, int64_t b, bool blocked_input) {
  if (blocked_input) return {blocks_of(o, b), blocks_of(c, b), kh, kw, b, b};
  return {blocks_of(o, b), kh, kw, c, b};
}

InferResult infer_pack_conv_weight(const In& in, const Attrs& attrs) {
  const InputMeta& w = in[0];
  const int64_t b = attrs.i("block");
  check_block(b);
  TESSERA_CHECK(w.dim() == 4, "expected a 4-D weight [O, C, kh, kw], got ", shape_str(w.sizes()));
  TESSERA_CHECK(is_floating(w.dtype()), "expected a floating-point weight, got ", dtype_name(w.dtype()));
  return {{{packed_weight_shape(w.size(0), w.size(1), w.size(2), w.size(3), b, attrs.b("blocked_input")),
            w.dtype()}},
          std::nullopt};
}

}  // namespace

bool winograd_applies(const ConvGeometry& g, bool blocked_input) {
  return blocked_input && g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 &&
         g.dilation[1] == 1 && g.groups == 1;
}

namespace {

InferResult infer_conv2d_blocked(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(in.size() == 3 || in.size() == 4, "expected (input, packed weight, bias[, residual]), got ",
                in.size(), " tensors");
  for (const InputMeta& t : in)
    TESSERA_CHECK(t.dtype() == DType::Float32, "expected float32 tensors, got ", t.describe());
  const InputMeta& x = in[0];
  const InputMeta& w = in[1];
  const bool blocked = x.dim() == 5;
  TESSERA_CHECK(x.dim() == 4 || blocked, "expected a plain [N, C, H, W] or blocked [N, C/b, H, W, b] input, got ",
                shape_str(x.sizes()));
  const int64_t c = attrs.i("in_channels"), o = attrs.i("out_channels");
  TESSERA_CHECK(attrs.i("groups") == 1, "only groups = 1 is blocked, got ", attrs.i("groups"));
  TESSERA_CHECK(c > 0 && o > 0, "in_channels and out_channels must be positive, got ", c, " and ", o);
  // The weight: packed (its last dim the block), or plain [O, C, kh, kw] for a blocked
  // input (the backend lays it out for the algorithm, once: Winograd's layout is its own).
  const bool plain_weight = w.dim() == 4;
  TESSERA_CHECK(!plain_weight || blocked, "a plain [O, C, kh, kw] weight needs a blocked input");
  const int64_t b = blocked ? x.size(4) : (w.dim() > 0 ? w.size(-1) : 0);
  check_block(b);
  if (blocked) {
    TESSERA_CHECK(x.size(1) == blocks_of(c, b), "input ", shape_str(x.sizes()), " does not hold ", c,
                  " channels in blocks of ", b);
  } else {
    TESSERA_CHECK(x.size(1) == c, "input ", shape_str(x.sizes()), " does not have ", c, " channels");
  }
  int64_t kh = 0, kw = 0;
  if (plain_weight) {
    kh = w.size(2);
    kw = w.size(3);
  } else if (w.dim() == (blocked ? 6 : 5)) {
    kh = blocked ? w.size(2) : w.size(1);
    kw = blocked ? w.size(3) : w.size(2);
  }
  const Shape want_w = plain_weight ? Shape{o, c, kh, kw} : packed_weight_shape(o, c, kh, kw, b, blocked);
  TESSERA_CHECK(kh > 0 && kw > 0 && w.sizes().equals(want_w), "expected a ", plain_weight ? "" : "packed ", "weight ",
                shape_str(want_w), ", got ", shape_str(w.sizes()));
  TESSERA_CHECK(in[2].dim() == 1 && in[2].size(0) == o, "expected a bias of shape [", o, "], got ",
                shape_str(in[2].sizes()));
  const std::string& act = attrs.get<std::string>("activation");
  TESSERA_CHECK(act == "none" || act == "relu", "activation must be \"none\" or \"relu\", got \"", act, "\"");
  const ConvGeometry g = conv_geometry(Shape{x.size(0), c, x.size(2), x.size(3)}, Shape{o, c, kh, kw}, attrs);
  const std::string& algo = attrs.get<std::string>("algorithm");
  TESSERA_CHECK(algo == "direct" || algo == "winograd" || algo == "winograd_4x4",
                "algorithm must be \"direct\", \"winograd\" or \"winograd_4x4\", got \"", algo, "\"");
  TESSERA_CHECK(algo == "direct" || (winograd_applies(g, blocked) && plain_weight), "algorithm \"", algo,
                "\" needs a blocked input, a plain weight and a 3x3 kernel with stride 1 and dilation 1");
  const Shape out{g.n, blocks_of(o, b), g.oh, g.ow, b};
  if (in.size() == 4)
    TESSERA_CHECK(in[3].sizes().equals(out), "expected a residual of the output's shape ", shape_str(out),
                  ", got ", shape_str(in[3].sizes()));
  return {{{out, DType::Float32}}, std::nullopt};
}

InferResult infer_max_pool2d_blocked(const In& in, const Attrs& attrs) {
  const InputMeta& x = in[0];
  check_blocked_input(x, "input");
  TESSERA_CHECK(is_floating(x.dtype()), "expected a floating-point input, got ", dtype_name(x.dtype()));
  // max_pool2d's own rule checks the window against the plain shape.
  const InferResult plain = infer_shapes(kMaxPool2d, {InputMeta(Shape{x.size(0), x.size(1), x.size(2), x.size(3)},
                                                                x.dtype())}, attrs);
  const Shape& p = plain.outputs[0].sizes;
  return {{{Shape{p[0], p[1], p[2], p[3], x.size(4)}, x.dtype()}}, std::nullopt};
}

// The conv geometry of a blocked backward op's plain tensors.
Shape plain_of(const InputMeta& x, int64_t channels) {
  return x.dim() == 5 ? Shape{x.size(0), channels, x.size(2), x.size(3)} : Shape(x.sizes());
}

void check_blocked_of(const InputMeta& t, IntArrayRef plain, const char* what) {
  check_blocked_input(t, what);
  const int64_t b = t.size(4);
  const Shape want{plain[0], blocks_of(plain[1], b), plain[2], plain[3], b};
  TESSERA_CHECK(t.sizes().equals(want), "expected a blocked ", what, " ", shape_str(want), " (", shape_str(plain),
                " in blocks of ", b, "), got ", shape_str(t.sizes()));
}

void check_float32(const In& in) {
  for (const InputMeta& t : in)
    TESSERA_CHECK(t.dtype() == DType::Float32, "expected float32 tensors, got ", t.describe());
}

InferResult infer_backward_input_blocked(const In& in, const Attrs& attrs) {
  check_float32(in);
  TESSERA_CHECK(attrs.i("groups") == 1, "only groups = 1 is blocked, got ", attrs.i("groups"));
  const std::vector<int64_t>& size = attrs.ints("input_size");
  const ConvGeometry g = conv_geometry(size, in[1].sizes(), attrs);
  check_blocked_of(in[0], Shape{g.n, g.o, g.oh, g.ow}, "output gradient");
  const int64_t b = in[0].size(4);
  return {{{Shape{g.n, blocks_of(g.c, b), g.h, g.w, b}, DType::Float32}}, std::nullopt};
}

InferResult infer_backward_weight_blocked(const In& in, const Attrs& attrs) {
  check_float32(in);
  TESSERA_CHECK(attrs.i("groups") == 1, "only groups = 1 is blocked, got ", attrs.i("groups"));
  const std::vector<int64_t>& wsize = attrs.ints("weight_size");
  TESSERA_CHECK(wsize.size() == 4, "weight_size must have 4 dims, got ", shape_str(wsize));
  const Shape x_plain = plain_of(in[0], wsize[1]);
  const ConvGeometry g = conv_geometry(x_plain, wsize, attrs);
  if (in[0].dim() == 5) check_blocked_of(in[0], x_plain, "input");
  check_blocked_of(in[1], Shape{g.n, g.o, g.oh, g.ow}, "output gradient");
  return {{{Shape(IntArrayRef(wsize)), DType::Float32}}, std::nullopt};
}

// The output gradient that max_pool2d_backward_blocked(gp, idx) would make for the 2x2
// stride-2 pooling of convolution g's output, as its gradient ops read it.
InputMeta unpooled_gradient(const InputMeta& gp, const InputMeta& idx, const ConvGeometry& g) {
  check_blocked_input(gp, "pooled gradient");
  TESSERA_CHECK(gp.dtype() == DType::Float32, "expected a float32 pooled gradient, got ", gp.describe());
  TESSERA_CHECK(idx.dtype() == DType::Int64 && idx.sizes().equals(gp.sizes()),
                "expected int64 indices of the pooled gradient's shape ", shape_str(gp.sizes()), ", got ", idx.describe());
  const int64_t b = gp.size(4);
  const Shape want{g.n, blocks_of(g.o, b), g.oh / 2, g.ow / 2, b};
  TESSERA_CHECK(gp.sizes().equals(want), "expected the pooled gradient ", shape_str(want), " (the 2x2 pooling of [",
                g.n, ", ", g.o, ", ", g.oh, ", ", g.ow, "] in blocks of ", b, "), got ", shape_str(gp.sizes()));
  return InputMeta(Shape{g.n, gp.size(1), g.oh, g.ow, b}, DType::Float32);
}

InferResult infer_backward_input_unpool_blocked(const In& in, const Attrs& attrs) {
  check_float32({in[2]});
  const ConvGeometry g = conv_geometry(attrs.ints("input_size"), in[2].sizes(), attrs);
  return infer_backward_input_blocked({unpooled_gradient(in[0], in[1], g), in[2]}, attrs);
}

InferResult infer_backward_weight_unpool_blocked(const In& in, const Attrs& attrs) {
  const std::vector<int64_t>& wsize = attrs.ints("weight_size");
  TESSERA_CHECK(wsize.size() == 4, "weight_size must have 4 dims, got ", shape_str(wsize));
  const ConvGeometry g = conv_geometry(plain_of(in[0], wsize[1]), wsize, attrs);
  return infer_backward_weight_blocked({in[0], unpooled_gradient(in[1], in[2], g)}, attrs);
}

InferResult infer_max_pool2d_indices_blocked(const In& in, const Attrs& attrs) {
  InferResult r = infer_max_pool2d_blocked(in, attrs);
  r.outputs.push_back({r.outputs[0].sizes, DType::Int64});
  return r;
}

InferResult infer_conv2d_max_pool2x2_blocked(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(attrs.get<std::string>("activation") == "none", "activation must be \"none\" (ReLU after the pooling), got \"",
                attrs.get<std::string>("activation"), "\"");
  const InferResult conv = infer_conv2d_blocked(in, attrs);
  return infer_max_pool2d_indices_blocked({InputMeta(conv.outputs[0].sizes, conv.outputs[0].dtype)}, two_by_two_pool());
}

InferResult infer_conv2d_max_pool2x2_values_blocked(const In& in, const Attrs& attrs) {
  const std::string& act = attrs.get<std::string>("activation");
  TESSERA_CHECK(act == "none" || act == "relu", "activation must be \"none\" or \"relu\", got \"", act, "\"");
  const InferResult conv = infer_conv2d_blocked(in, attrs);
  return infer_max_pool2d_blocked({InputMeta(conv.outputs[0].sizes, conv.outputs[0].dtype)}, two_by_two_pool());
}

InferResult infer_max_pool2d_backward_blocked(const In& in, const Attrs& attrs) {
  const InputMeta& gy = in[0];
  check_blocked_input(gy, "gradient");
  TESSERA_CHECK(is_floating(gy.dtype()), "expected a floating-point gradient, got ", dtype_name(gy.dtype()));
  TESSERA_CHECK(in[1].dtype() == DType::Int64 && in[1].sizes().equals(gy.sizes()),
                "expected int64 indices of the gradient's shape, got ", in[1].describe());
  const std::vector<int64_t>& size = attrs.ints("input_size");
  TESSERA_CHECK(size.size() == 4 && size[0] == gy.size(0) && blocks_of(size[1], gy.size(4)) == gy.size(1),
                "input_size ", shape_str(size), " does not match the blocked gradient ", shape_str(gy.sizes()));
  return {{{Shape{size[0], gy.size(1), size[2], size[3], gy.size(4)}, gy.dtype()}}, std::nullopt};
}

InferResult infer_channel_sum_blocked(const In& in, const Attrs& attrs) {
  const InputMeta& x = in[0];
  check_blocked_input(x, "input");
  TESSERA_CHECK(is_floating(x.dtype()), "expected a floating-point input, got ", dtype_name(x.dtype()));
  const int64_t c = attrs.i("channels"), b = x.size(4);
  TESSERA_CHECK(c > (x.size(1) - 1) * b && c <= x.size(1) * b, "channels ", c, " do not fit ", x.size(1),
                " blocks of ", b);
  return {{{Shape{c}, x.dtype()}}, std::nullopt};
}

// conv2d_backward_*'s geometry attributes plus the size the op rebuilds.
AttrSchema backward_attrs(const char* size_name) {
  return {attr("stride", AttrType::Ints, std::vector<int64_t>{1, 1}),
          attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0, 0, 0}),
          attr("dilation", AttrType::Ints, std::vector<int64_t>{1, 1}),
          attr("groups", AttrType::Int, int64_t{1}),
          attr("algorithm", AttrType::String, std::string("direct")),
          attr("precision", AttrType::String, std::string("float32")),
          attr(size_name, AttrType::Ints)};
}

AttrSchema max_pool_attrs() {
  return {attr("kernel", AttrType::Ints), attr("stride", AttrType::Ints),
          attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0}),
          attr("dilation", AttrType::Ints, std::vector<int64_t>{1, 1}), attr("ceil_mode", AttrType::Bool, false)};
}

}  // namespace

OpDef kToBlocked{"to_blocked", 1, 0, {attr("block", AttrType::Int)}, infer_to_blocked};
OpDef kFromBlocked{"from_blocked", 1, 0, {attr("channels", AttrType::Int)}, infer_from_blocked};
OpDef kPackConvWeight{"pack_conv_weight", 1, 0,
                      {attr("block", AttrType::Int), attr("blocked_input", AttrType::Bool)},
                      infer_pack_conv_weight};
OpDef kConv2dBlocked{"conv2d_blocked", -1, 0,
                     {attr("stride", AttrType::Ints, std::vector<int64_t>{1, 1}),
                      attr("padding", AttrType::Ints, std::vector<int64_t>{0, 0, 0, 0}),
                      attr("dilation", AttrType::Ints, std::vector<int64_t>{1, 1}),
                      attr("groups", AttrType::Int, int64_t{1}),
                      attr("in_channels", AttrType::Int), attr("out_channels", AttrType::Int),
                      attr("activation", AttrType::String, std::string("none")),
                      attr("algorithm", AttrType::String, std::string("direct")),
                      // conv2d's precision (autocast): "float32" or "bf16"
                      attr("precision", AttrType::String, std::string("float32"))},
                     infer_conv2d_blocked};
OpDef kMaxPool2dBlocked{"max_pool2d_blocked", 1, 0, max_pool_attrs(), infer_max_pool2d_blocked};
OpDef kConv2dBackwardInputBlocked{"conv2d_backward_input_blocked", 2, 0, backward_attrs("input_size"),
                                  infer_backward_input_blocked};
OpDef kConv2dBackwardWeightBlocked{"conv2d_backward_weight_blocked", 2, 0, backward_attrs("weight_size"),
                                   infer_backward_weight_blocked};
OpDef kMaxPool2dIndicesBlocked{"max_pool2d_indices_blocked", 1, 0, max_pool_attrs(),
                               infer_max_pool2d_indices_blocked};
OpDef kMaxPool2dBackwardBlocked{"max_pool2d_backward_blocked", 2, 0, {attr("input_size", AttrType::Ints)},
                                infer_max_pool2d_backward_blocked};
OpDef kConv2dMaxPool2x2Blocked{"conv2d_max_pool2x2_blocked", 3, 0, kConv2dBlocked.attrs,
                                infer_conv2d_max_pool2x2_blocked};
OpDef kConv2dMaxPool2x2ValuesBlocked{"conv2d_max_pool2x2_values_blocked", 3, 0, kConv2dBlocked.attrs,
                                      infer_conv2d_max_pool2x2_values_blocked};
OpDef kConv2dBackwardInputUnpoolBlocked{"conv2d_backward_input_unpool_blocked", 3, 0, backward_attrs("input_size"),
                                        infer_backward_input_unpool_blocked};
OpDef kConv2dBackwardWeightUnpoolBlocked{"conv2d_backward_weight_unpool_blocked", 3, 0,
                                         backward_attrs("weight_size"), infer_backward_weight_unpool_blocked};
OpDef kChannelSumBlocked{"channel_sum_blocked", 1, 0, {attr("channels", AttrType::Int)}, infer_channel_sum_blocked};

void register_conv_blocked_ops() {
  for (OpDef* op : {&kToBlocked, &kFromBlocked, &kPackConvWeight, &kConv2dBlocked, &kMaxPool2dBlocked,
                    &kConv2dBackwardInputBlocked, &kConv2dBackwardWeightBlocked, &kMaxPool2dIndicesBlocked,
                    &kMaxPool2dBackwardBlocked, &kChannelSumBlocked, &kConv2dMaxPool2x2Blocked,
                    &kConv2dMaxPool2x2ValuesBlocked, &kConv2dBackwardInputUnpoolBlocked, &kConv2dBackwardWeightUnpoolBlocked})
    register_op(*op);
}

}  // namespace tessera::ops
