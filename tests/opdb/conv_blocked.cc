// opdb entries of the channel-blocked ops of compiled graphs (src/ops/conv_blocked.cc):
// the layout conversions, weight packing, the fused blocked convolution, blocked max
// pooling, and a training step's blocked gradient passes, pooling indices and bias sums. Samples use blocks of 8 and 16 (both layouts run
// on any machine oneDNN supports), partial blocks where an op allows them, and the
// PyTorch references in torch_ref.py rebuild the plain tensors, compute, and re-block.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;

InvokeFn dispatch(const char* op) {
  return [op](const Tensors& x, const Attrs& a) {
    ops::ensure_registered();
    return ops::call(*ops::find_op(op), x, a);
  };
}

Tensor call_op(const char* op, const Tensors& x, const Attrs& a) {
  ops::ensure_registered();
  return ops::call(*ops::find_op(op), x, a)[0];
}

OpEntry entry(const char* op, SamplesFn samples, std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "conv_blocked";
  e.invoke = dispatch(op);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  return e;
}

Tensor blocked(const Tensor& x, int64_t b) { return call_op("to_blocked", {x}, {{"block", b}}); }

// conv2d_backward_*'s attributes: geometry, algorithm and the size the op rebuilds.
Attrs backward_attrs(Ints stride, Ints padding, const char* size_name, Ints size, const char* algorithm = "direct") {
  return {{"stride", std::move(stride)},  {"padding", std::move(padding)}, {"dilation", Ints{1, 1}},
          {"groups", int64_t{1}},         {"algorithm", std::string(algorithm)},
          {size_name, std::move(size)}};
}

Attrs pool_attrs(Ints k, Ints s, Ints p, Ints d, bool ceil) {
  return Attrs{{"kernel", std::move(k)}, {"stride", std::move(s)}, {"padding", std::move(p)},
               {"dilation", std::move(d)}, {"ceil_mode", ceil}};
}

Attrs conv_attrs(Ints stride, Ints padding, int64_t c, int64_t o, const char* act) {
  return {{"stride", std::move(stride)}, {"padding", std::move(padding)}, {"dilation", Ints{1, 1}}, {"groups", int64_t{1}},
          {"in_channels", c}, {"out_channels", o}, {"activation", std::string(act)}};
}

}  // namespace

void add_conv_blocked(std::vector<OpEntry>& out) {
  {
    OpEntry e = entry(
        "to_blocked",
        [](DType t) {
          Maker m("to_blocked", t);
          std::vector<Sample> s;
          s.push_back({"whole_blocks", {m({2, 16, 3, 4})}, {{"block", int64_t{8}}}});
          s.push_back({"partial_block", {noncontiguous(m({1, 5, 3, 3}))}, {{"block", int64_t{16}}}});
          s.push_back({"empty", {m({0, 8, 2, 2})}, {{"block", int64_t{8}}}});
          return s;
        },
        "to_blocked(x[0], A['block'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"block", {ones({1, 4, 2, 2})}, {{"block", int64_t{4}}}, "block must be 8 or 16, got 4"},
          {"rank", {ones({4, 2, 2})}, {{"block", int64_t{8}}}, "expected a 4-D input"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "from_blocked",
        [](DType t) {
          Maker m("from_blocked", t);
          std::vector<Sample> s;
          s.push_back({"whole_blocks", {m({2, 2, 3, 4, 8})}, {{"channels", int64_t{16}}}});
          s.push_back({"partial_block", {m({1, 1, 3, 3, 16})}, {{"channels", int64_t{5}}}});
          s.push_back({"empty", {m({0, 1, 2, 2, 8})}, {{"channels", int64_t{8}}}});
          return s;
        },
        "from_blocked(x[0], A['channels'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"channels", {ones({1, 2, 2, 2, 8})}, {{"channels", int64_t{4}}}, "channels 4 do not fit 2 blocks of 8"},
          {"rank", {ones({1, 8, 2, 2})}, {{"channels", int64_t{8}}}, "expected a blocked input"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "pack_conv_weight",
        [](DType t) {
          Maker m("pack_conv_weight", t);
          std::vector<Sample> s;
          s.push_back({"blocked_input", {m({16, 8, 3, 3})}, {{"block", int64_t{8}}, {"blocked_input", true}}});
          s.push_back({"blocked_partial", {m({20, 5, 1, 3})}, {{"block", int64_t{16}}, {"blocked_input", true}}});
          s.push_back({"plain_input", {m({32, 3, 3, 3})}, {{"block", int64_t{16}}, {"blocked_input", false}}});
          s.push_back({"plain_partial", {m({10, 1, 3, 2})}, {{"block", int64_t{8}}, {"blocked_input", false}}});
          s.push_back({"empty", {m({0, 8, 3, 3})}, {{"block", int64_t{8}}, {"blocked_input", true}}});
          return s;
        },
        "pack_conv_weight(x[0], A['block'], A['blocked_input'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"rank", {ones({4, 4, 3})}, {{"block", int64_t{8}}, {"blocked_input", true}},
                                     "expected a 4-D weight [O, C, kh, kw]"}};
    };
    out.push_back(std::move(e));
  }
  {
    // Inputs made by the layout ops from plain values: (x, packed w, bias[, residual]).
    OpEntry e = entry(
        "conv2d_blocked",
        [](DType t) {
          Maker m("conv2d_blocked", t);
          auto blocked = [&](const Tensor& x, int64_t b) { return call_op("to_blocked", {x}, {{"block", b}}); };
          auto pack = [&](const Tensor& w, int64_t b, bool bi) {
            return call_op("pack_conv_weight", {w}, {{"block", b}, {"blocked_input", bi}});
          };
          std::vector<Sample> s;
          s.push_back({"blocked_relu", {blocked(m({2, 16, 7, 6}), 16), pack(m({32, 16, 3, 3}), 16, true), m({32})},
                       conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 32, "relu")});
          s.push_back({"plain_input_stride",
                       {m({1, 3, 9, 9}), pack(m({16, 3, 3, 3}), 8, false), m({16})},
                       conv_attrs({2, 2}, {1, 1, 1, 1}, 3, 16, "none")});
          s.push_back({"residual_relu",
                       {blocked(m({1, 8, 5, 5}), 8), pack(m({8, 8, 3, 3}), 8, true), m({8}), blocked(m({1, 8, 5, 5}), 8)},
                       conv_attrs({1, 1}, {1, 1, 1, 1}, 8, 8, "relu")});
          s.push_back({"pointwise_asymmetric",
                       {blocked(m({1, 16, 6, 5}), 16), pack(m({16, 16, 1, 1}), 16, true), m({16})},
                       conv_attrs({2, 1}, {0, 1, 1, 0}, 16, 16, "none")});
          // A plain weight: the backend lays it out (Winograd's transform where oneDNN has
          // it for this CPU, else the direct kernel's blocks).
          Attrs wino = conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 16, "relu");
          wino.add({"algorithm", std::string("winograd")});
          s.push_back({"winograd_relu", {blocked(m({1, 16, 8, 8}), 16), m({16, 16, 3, 3}), m({16})}, wino});
          // F(4x4, 3x3) (inference graphs' choice) on blocks of 8: 9 x 10 outputs, partial
          // 4x4 tiles, residual and ReLU; where the CPU has no such kernel, F(2x2) or direct.
          Attrs wino4 = conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 16, "relu");
          wino4.add({"algorithm", std::string("winograd_4x4")});
          s.push_back({"winograd_4x4_residual_relu",
                       {blocked(m({1, 16, 9, 10}), 8), m({16, 16, 3, 3}), m({16}), blocked(m({1, 16, 9, 10}), 8)},
                       wino4});
          s.back().normwise = 1e-5;  // measured 1.6e-6 here, 3.4e-6 pooled (F(2x2) passes elementwise)
          s.push_back({"plain_weight_direct", {blocked(m({1, 8, 5, 4}), 8), m({16, 8, 3, 1}), m({16})},
                       conv_attrs({2, 1}, {1, 0, 1, 0}, 8, 16, "none")});
          s.push_back({"empty", {blocked(m({0, 8, 4, 4}), 8), pack(m({8, 8, 3, 3}), 8, true), m({8})},
                       conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none")});
          return s;
        },
        "conv2d_blocked(x, A)");
    e.dtypes = {kFloat32};  // oneDNN's float32 convolution
    e.tol.rtol32 = 1e-4;
    e.tol.atol32 = 1e-5;
    e.errors = [] {
      const Tensor x = zeros({1, 1, 4, 4, 8}), w = zeros({1, 1, 3, 3, 8, 8}), b = zeros({8});
      return std::vector<ErrorCase>{
          {"weight", {x, zeros({1, 1, 3, 3, 8}), b}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none"), "expected a packed weight"},
          {"activation", {x, w, b}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "tanh"), "activation must be"},
          {"residual", {x, w, b, zeros({1, 1, 4, 4, 8})}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none"),
           "expected a residual of the output's shape [1, 1, 2, 2, 8]"},
          {"float64", {x.to(kFloat64), w, b}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none"), "expected float32 tensors"},
          {"winograd_strided", {x, zeros({8, 8, 3, 3}), b},
           [] {
             Attrs a = conv_attrs({2, 2}, {0, 0, 0, 0}, 8, 8, "none");
             a.add({"algorithm", std::string("winograd")});
             return a;
           }(),
           "algorithm \"winograd\" needs a blocked input, a plain weight and a 3x3 kernel with stride 1"},
          {"plain_weight_plain_input", {zeros({1, 8, 4, 4}), zeros({8, 8, 3, 3}), b}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none"),
           "a plain [O, C, kh, kw] weight needs a blocked input"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "max_pool2d_blocked",
        [](DType t) {
          Maker m("max_pool2d_blocked", t);
          auto pool = [](Ints k, Ints s, Ints p, Ints d, bool ceil) {
            return Attrs{{"kernel", std::move(k)}, {"stride", std::move(s)}, {"padding", std::move(p)},
                         {"dilation", std::move(d)}, {"ceil_mode", ceil}};
          };
          std::vector<Sample> s;
          s.push_back({"two_by_two", {m({1, 2, 6, 6, 8})}, pool({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          s.push_back({"overlap_padding", {noncontiguous(m({2, 1, 7, 7, 16}))}, pool({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)});
          s.push_back({"ceil_dilation", {m({1, 1, 7, 6, 8})}, pool({2, 2}, {2, 2}, {0, 1}, {2, 1}, true)});
          s.push_back({"empty", {m({0, 1, 4, 4, 8})}, pool({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          return s;
        },
        "max_pool2d_blocked(x, A)");
    e.errors = [] {
      return std::vector<ErrorCase>{{"rank", {ones({1, 8, 4, 4})},
                                     {{"kernel", Ints{2, 2}}, {"stride", Ints{2, 2}}}, "expected a blocked input"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (blocked gy, plain w) -> blocked gx.
    OpEntry e = entry(
        "conv2d_backward_input_blocked",
        [](DType t) {
          Maker m("conv2d_backward_input_blocked", t);
          std::vector<Sample> s;
          s.push_back({"block8_padding", {blocked(m({2, 16, 5, 5}), 8), m({16, 8, 3, 3})},
                       backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {2, 8, 5, 5})});
          s.push_back({"block16_stride", {blocked(m({1, 16, 4, 3}), 16), m({16, 32, 3, 3})},
                       backward_attrs({2, 2}, {1, 1, 1, 1}, "input_size", {1, 32, 7, 6})});
          s.push_back({"winograd", {blocked(m({1, 16, 8, 8}), 16), m({16, 16, 3, 3})},
                       backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {1, 16, 8, 8}, "winograd")});
          s.push_back({"empty", {blocked(m({0, 16, 4, 4}), 8), m({16, 8, 3, 3})},
                       backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {0, 8, 4, 4})});
          return s;
        },
        "conv2d_backward_input_blocked(x, A)");
    e.dtypes = {kFloat32};
    // Winograd's error is normwise: elements near 0 differ by more than a plain rtol allows.
    e.tol.rtol32 = 1e-4;
    e.tol.atol32 = 1e-4;
    e.compiled_normwise = 1e-5;
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"plain_gradient", {zeros({1, 8, 4, 4}), zeros({8, 8, 3, 3})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {1, 8, 4, 4}), "expected a blocked output gradient"},
          {"gradient_shape", {zeros({1, 1, 3, 3, 8}), zeros({8, 8, 3, 3})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {1, 8, 4, 4}),
           "expected a blocked output gradient [1, 1, 4, 4, 8]"},
          {"float64", {zeros({1, 1, 4, 4, 8}, kFloat64), zeros({8, 8, 3, 3})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {1, 8, 4, 4}), "expected float32 tensors"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (x blocked or plain, blocked gy) -> plain gw.
    OpEntry e = entry(
        "conv2d_backward_weight_blocked",
        [](DType t) {
          Maker m("conv2d_backward_weight_blocked", t);
          std::vector<Sample> s;
          s.push_back({"blocked_input", {blocked(m({2, 8, 5, 5}), 8), blocked(m({2, 16, 5, 5}), 8)},
                       backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {16, 8, 3, 3})});
          s.push_back({"plain_input_stride", {m({2, 3, 9, 8}), blocked(m({2, 16, 5, 4}), 16)},
                       backward_attrs({2, 2}, {1, 1, 1, 1}, "weight_size", {16, 3, 3, 3})});
          s.push_back({"winograd", {blocked(m({1, 16, 8, 8}), 16), blocked(m({1, 16, 8, 8}), 16)},
                       backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {16, 16, 3, 3}, "winograd")});
          // No images: the weight gradient is an empty sum, 0.
          s.push_back({"empty", {blocked(m({0, 8, 4, 4}), 8), blocked(m({0, 16, 4, 4}), 8)},
                       backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {16, 8, 3, 3})});
          return s;
        },
        "conv2d_backward_weight_blocked(x, A)");
    e.dtypes = {kFloat32};
    e.tol.rtol32 = 1e-4;
    e.tol.atol32 = 1e-4;
    e.compiled_normwise = 1e-5;
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"gradient_shape", {zeros({1, 1, 4, 4, 8}), zeros({1, 1, 3, 3, 8})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {8, 8, 3, 3}),
           "expected a blocked output gradient [1, 1, 4, 4, 8]"},
          {"input_shape", {zeros({1, 2, 4, 4, 8}), zeros({1, 1, 4, 4, 8})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {8, 8, 3, 3}), "expected a blocked input [1, 1, 4, 4, 8]"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "max_pool2d_indices_blocked",
        [](DType t) {
          Maker m("max_pool2d_indices_blocked", t);
          std::vector<Sample> s;
          s.push_back({"two_by_two", {m({2, 2, 6, 6, 8})}, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          s.push_back({"overlap_padding", {noncontiguous(m({1, 1, 7, 7, 16}))}, pool_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)});
          s.push_back({"ceil_dilation", {m({1, 1, 7, 6, 8})}, pool_attrs({2, 2}, {2, 2}, {0, 1}, {2, 1}, true)});
          s.push_back({"empty", {m({0, 1, 4, 4, 8})}, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          return s;
        },
        "max_pool2d_indices_blocked(x, A)");
    e.errors = [] {
      return std::vector<ErrorCase>{{"rank", {ones({1, 8, 4, 4})}, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false),
                                     "expected a blocked input"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (blocked gy, blocked indices) -> blocked gx; indices from a blocked max pooling.
    OpEntry e = entry(
        "max_pool2d_backward_blocked",
        [](DType t) {
          Maker m("max_pool2d_backward_blocked", t);
          auto sample = [&](const char* name, Ints size, int64_t b, Attrs pool) {
            const Tensor x = blocked(m(size), b);
            const Tensor idx = ops::call(*ops::find_op("max_pool2d_indices_blocked"), {x}, pool)[1];
            return Sample(name, {m(idx.sizes()), idx}, {{"input_size", size}});
          };
          ops::ensure_registered();
          std::vector<Sample> s;
          s.push_back(sample("two_by_two", {2, 16, 6, 6}, 8, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)));
          // Overlapping windows: one input may be the maximum of several (the gradients add).
          s.push_back(sample("overlap", {1, 16, 5, 5}, 16, pool_attrs({3, 3}, {1, 1}, {1, 1}, {1, 1}, false)));
          s.push_back(sample("empty", {0, 8, 4, 4}, 8, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)));
          return s;
        },
        "max_pool2d_backward_blocked(x, A)");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"float_indices", {ones({1, 1, 2, 2, 8}), ones({1, 1, 2, 2, 8})}, {{"input_size", Ints{1, 8, 4, 4}}},
           "expected int64 indices of the gradient's shape"},
          {"input_size", {ones({1, 1, 2, 2, 8}), zeros({1, 1, 2, 2, 8}, kInt64)}, {{"input_size", Ints{1, 16, 4, 4}}},
           "does not match the blocked gradient"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (blocked x, plain or packed w, bias) -> conv2d_blocked's 2x2 stride-2 max pooling,
    // values and indices (conv2d_max_pool2x2_blocked, a training step's) or the values
    // only (conv2d_max_pool2x2_values_blocked, inference's). Where the Winograd runs (bf16,
    // and float32 on blocks of 8: the "winograd_b8" samples on AVX2) the backend pools its
    // output tiles; those fused kernels are compared with the two ops bit for bit in
    // tests/ops/winograd_bf16_test.cc and winograd_f32_test.cc.
    for (const bool indices : {true, false}) {
      const char* name = indices ? "conv2d_max_pool2x2_blocked" : "conv2d_max_pool2x2_values_blocked";
      OpEntry e = entry(
          name,
          [name](DType t) {
            Maker m(name, t);
            std::vector<Sample> s;
            Attrs wino = conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 32, "none");
            wino.add({"algorithm", std::string("winograd")});
            s.push_back({"winograd", {blocked(m({2, 16, 8, 8}), 16), m({32, 16, 3, 3}), m({32})}, wino});
            Attrs wino8 = conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 16, "none");
            wino8.add({"algorithm", std::string("winograd")});
            s.push_back({"winograd_b8", {blocked(m({2, 16, 8, 8}), 8), m({16, 16, 3, 3}), m({16})}, wino8});
            // 9 x 11 outputs: tiles past the last whole window are dropped.
            s.push_back({"winograd_b8_odd", {blocked(m({2, 16, 9, 11}), 8), m({16, 16, 3, 3}), m({16})}, wino8});
            if (std::string(name) == "conv2d_max_pool2x2_values_blocked") {
              Attrs relu8 = conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 16, "relu");
              relu8.add({"algorithm", std::string("winograd")});
              s.push_back({"winograd_b8_relu", {blocked(m({2, 16, 8, 8}), 8), m({16, 16, 3, 3}), m({16})}, relu8});
            }
            if (std::string(name) == "conv2d_max_pool2x2_values_blocked") {
              // F(4x4, 3x3)'s pooled values (inference), 9 x 11 outputs.
              Attrs wino4 = conv_attrs({1, 1}, {1, 1, 1, 1}, 16, 16, "relu");
              wino4.add({"algorithm", std::string("winograd_4x4")});
              s.push_back({"winograd_4x4_b8_odd_relu", {blocked(m({2, 16, 9, 11}), 8), m({16, 16, 3, 3}), m({16})},
                           wino4});
              s.back().normwise = 1e-5;
            }
            // An odd output (7 x 5): floor pooling drops the last row and column.
            s.push_back({"odd_direct", {blocked(m({1, 8, 9, 7}), 8), m({8, 8, 3, 3}), m({8})},
                         conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none")});
            s.push_back({"empty", {blocked(m({0, 8, 4, 4}), 8), m({8, 8, 3, 3}), m({8})},
                         conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none")});
            return s;
          },
          std::string(name) + "(x, A)");
      e.dtypes = {kFloat32};  // conv2d_blocked's float32 convolution
      e.tol.rtol32 = 1e-4;
      e.tol.atol32 = 1e-5;
      e.errors = [indices] {
        const Tensor x = zeros({1, 1, 4, 4, 8}), w = zeros({8, 8, 3, 3}), b = zeros({8});
        // The values-only form takes a ReLU (applied after the pooling); neither takes another.
        const char* act = indices ? "relu" : "sigmoid";
        return std::vector<ErrorCase>{
            {"activation", {x, w, b}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, act), "activation must be \"none\""},
            {"residual", {x, w, b, x}, conv_attrs({1, 1}, {0, 0, 0, 0}, 8, 8, "none"), "expected 3 inputs, got 4"}};
      };
      out.push_back(std::move(e));
    }
  }
  {
    // The gradient passes reading a 2x2 max pooling's gradient and indices instead of the
    // unpooled output gradient: (pooled gy, indices, w) -> blocked gx and (x, pooled gy,
    // indices) -> gw. Indices from a blocked 2x2 pooling of a conv output's shape. In
    // float32 the backend unpools, then runs the plain pass; the bf16 Winograd's own
    // kernels are compared with that bit for bit in tests/ops/winograd_bf16_test.cc.
    auto pooled_grad = [](Maker& m, Ints conv_out, int64_t b) {
      ops::ensure_registered();
      const Tensor y = blocked(m(conv_out), b);
      const Tensor idx = ops::call(*ops::find_op("max_pool2d_indices_blocked"), {y}, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false))[1];
      return std::vector<Tensor>{m(idx.sizes()), idx};
    };
    OpEntry e = entry(
        "conv2d_backward_input_unpool_blocked",
        [pooled_grad](DType t) {
          Maker m("conv2d_backward_input_unpool_blocked", t);
          auto sample = [&](const char* name, Ints conv_out, int64_t b, Tensor w, Attrs a) {
            std::vector<Tensor> in = pooled_grad(m, std::move(conv_out), b);
            in.push_back(std::move(w));
            return Sample(name, in, std::move(a));
          };
          std::vector<Sample> s;
          s.push_back(sample("winograd_even", {1, 16, 8, 8}, 16, m({16, 16, 3, 3}),
                             backward_attrs({1, 1}, {0, 0, 0, 0}, "input_size", {1, 16, 10, 10}, "winograd")));
          s.push_back(sample("odd_output", {2, 8, 9, 7}, 8, m({8, 8, 3, 3}),
                             backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {2, 8, 9, 7})));
          s.push_back(sample("empty", {0, 8, 4, 4}, 8, m({8, 8, 3, 3}),
                             backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {0, 8, 4, 4})));
          return s;
        },
        "conv2d_backward_input_unpool_blocked(x, A)");
    e.dtypes = {kFloat32};
    e.tol.rtol32 = 1e-4;  // Winograd's normwise error, as conv2d_backward_input_blocked's
    e.tol.atol32 = 1e-4;
    e.compiled_normwise = 1e-5;
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"float_indices", {zeros({1, 1, 2, 2, 8}), zeros({1, 1, 2, 2, 8}), zeros({8, 8, 3, 3})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {1, 8, 4, 4}),
           "expected int64 indices of the pooled gradient's shape"},
          {"pooled_shape", {zeros({1, 1, 4, 4, 8}), zeros({1, 1, 4, 4, 8}, kInt64), zeros({8, 8, 3, 3})},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "input_size", {1, 8, 4, 4}),
           "expected the pooled gradient [1, 1, 2, 2, 8]"}};
    };
    out.push_back(std::move(e));
    OpEntry ew = entry(
        "conv2d_backward_weight_unpool_blocked",
        [pooled_grad](DType t) {
          Maker m("conv2d_backward_weight_unpool_blocked", t);
          auto sample = [&](const char* name, Tensor x, Ints conv_out, int64_t b, Attrs a) {
            std::vector<Tensor> in{std::move(x)};
            for (Tensor& v : pooled_grad(m, std::move(conv_out), b)) in.push_back(std::move(v));
            return Sample(name, in, std::move(a));
          };
          std::vector<Sample> s;
          s.push_back(sample("blocked_winograd", blocked(m({2, 8, 10, 10}), 8), {2, 16, 8, 8}, 8,
                             backward_attrs({1, 1}, {0, 0, 0, 0}, "weight_size", {16, 8, 3, 3}, "winograd")));
          s.push_back(sample("plain_input_odd", m({1, 3, 9, 9}), {1, 16, 9, 9}, 16,
                             backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {16, 3, 3, 3})));
          s.push_back(sample("empty", blocked(m({0, 8, 4, 4}), 8), {0, 16, 4, 4}, 8,
                             backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {16, 8, 3, 3})));
          return s;
        },
        "conv2d_backward_weight_unpool_blocked(x, A)");
    ew.dtypes = {kFloat32};
    ew.tol.rtol32 = 1e-4;
    ew.tol.atol32 = 1e-4;
    ew.compiled_normwise = 1e-5;
    ew.errors = [] {
      return std::vector<ErrorCase>{
          {"pooled_shape", {zeros({1, 1, 4, 4, 8}), zeros({1, 2, 2, 2, 8}), zeros({1, 2, 2, 2, 8}, kInt64)},
           backward_attrs({1, 1}, {1, 1, 1, 1}, "weight_size", {8, 8, 3, 3}),
           "expected the pooled gradient [1, 1, 2, 2, 8]"}};
    };
    out.push_back(std::move(ew));
  }
  {
    OpEntry e = entry(
        "channel_sum_blocked",
        [](DType t) {
          Maker m("channel_sum_blocked", t);
          std::vector<Sample> s;
          s.push_back({"whole_blocks", {m({3, 2, 5, 4, 8})}, {{"channels", int64_t{16}}}});
          s.push_back({"partial_block", {noncontiguous(m({2, 1, 3, 3, 16}))}, {{"channels", int64_t{5}}}});
          s.push_back({"empty_batch", {m({0, 1, 2, 2, 8})}, {{"channels", int64_t{8}}}});
          return s;
        },
        "from_blocked(x[0], A['channels']).sum((0, 2, 3))");
    e.errors = [] {
      return std::vector<ErrorCase>{{"channels", {ones({1, 2, 2, 2, 8})}, {{"channels", int64_t{4}}},
                                     "channels 4 do not fit 2 blocks of 8"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
