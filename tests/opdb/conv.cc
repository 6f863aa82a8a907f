// opdb entries of the convolution family (src/ops/conv.cc): conv2d (and conv1d, a conv2d of
// unit height), conv_transpose2d, and the two gradient ops conv2d's backward is made of.
#include "opdb/opdb.h"
#include "tessera/nn/functional.h"

namespace tessera::opdb {
namespace {

namespace F = nn::functional;
using Ints = std::vector<int64_t>;

Attrs geometry(Ints stride, Ints padding, Ints dilation, int64_t groups) {
  return {{"stride", std::move(stride)}, {"padding", std::move(padding)}, {"dilation", std::move(dilation)}, {"groups", groups}};
}
Attrs plus(Attrs a, const ops::Attr& extra) {
  a.add(extra);
  return a;
}

// An op without a public function of its own (the gradient ops): through dispatch.
InvokeFn dispatch(const char* op) {
  return [op](const Tensors& x, const Attrs& a) {
    ops::ensure_registered();
    return ops::call(*ops::find_op(op), x, a);
  };
}

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "conv";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  // Convolutions sum k*k*C products: float32 keeps about 1e-6 of the largest term.
  e.tol.rtol32 = 1e-4;
  e.tol.atol32 = 1e-5;
  e.tol.rtol64 = 1e-9;
  // A graph runs 3x3 stride-1 float32 convolutions with Winograd (select_conv_algorithms):
  // compared with eager's direct kernels normwise, the bound such algorithms have.
  e.compiled_normwise = 1e-5;
  return e;
}

}  // namespace

void add_conv(std::vector<OpEntry>& out) {
  {
    // x, weight[, bias]; padding symmetric [h, w] (or "same"); "conv1d" runs F::conv1d.
    OpEntry e = entry(
        "conv2d",
        [](const Tensors& x, const Attrs& a) {
          const Tensor bias = x.size() > 2 ? x[2] : Tensor();
          if (attr_b(a, "conv1d"))
            return one(F::conv1d(x[0], x[1], bias, a.ints("stride")[0], a.ints("padding")[0], a.ints("dilation")[0], a.i("groups")));
          if (a.has("padding_mode"))
            return one(F::conv2d(x[0], x[1], bias, a.ints("stride"), F::PaddingMode(attr_s(a, "padding_mode")), a.ints("dilation"),
                                 a.i("groups")));
          return one(F::conv2d(x[0], x[1], bias, a.ints("stride"), a.ints("padding"), a.ints("dilation"), a.i("groups")));
        },
        [](DType t) {
          Maker m("conv2d", t);
          std::vector<Sample> s;
          s.push_back({"bias", {m({1, 2, 4, 4}), m({3, 2, 2, 2}), m({3})}, geometry({1, 1}, {0, 0}, {1, 1}, 1)});
          s.push_back({"stride_padding", {noncontiguous(m({2, 2, 5, 4})), m({2, 2, 3, 2})}, geometry({2, 1}, {1, 0}, {1, 1}, 1)});
          s.push_back({"dilation_groups", {m({1, 4, 5, 5}), noncontiguous(m({4, 2, 2, 2})), m({4})}, geometry({1, 1}, {1, 1}, {2, 2}, 2)});
          s.push_back({"same", {m({1, 2, 4, 5}), m({2, 2, 2, 3})},
                       plus(geometry({1, 1}, {0, 0}, {1, 1}, 1), {"padding_mode", std::string("same")})});
          s.push_back({"stride_padding_dilation", {m({2, 2, 6, 7}), m({3, 2, 3, 2}), m({3})}, geometry({2, 1}, {1, 0}, {1, 2}, 1)});
          s.push_back({"depthwise", {m({2, 3, 4, 5}), m({3, 1, 3, 3}), m({3})}, geometry({1, 1}, {1, 1}, {1, 1}, 3)});
          // Stride 3 leaves the last input rows unused: their gradient must be exactly 0.
          s.push_back({"stride3_unused_rows", {m({1, 2, 8, 8}), m({2, 2, 2, 2})}, geometry({3, 3}, {0, 0}, {1, 1}, 1)});
          s.push_back({"conv1d", {m({2, 4, 9}), m({4, 2, 3}), m({4})}, plus(geometry({2}, {1}, {2}, 2), {"conv1d", true})});
          s.push_back({"empty", {m({0, 2, 4, 4}), m({3, 2, 2, 2}), m({3})}, geometry({1, 1}, {0, 0}, {1, 1}, 1)});
          s.push_back({"large", {m({4, 8, 16, 16}), m({16, 8, 3, 3}), m({16})}, geometry({1, 1}, {1, 1}, {1, 1}, 1), false});
          return s;
        },
        "(F.conv1d if A.get('conv1d') else F.conv2d)(x[0], x[1], x[2] if len(x) > 2 else None, A['stride'], "
        "A.get('padding_mode', A['padding']), A['dilation'], A['groups'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"channels", {ones({1, 3, 4, 4}), ones({2, 2, 2, 2})}, geometry({1, 1}, {0, 0}, {1, 1}, 1), "has 3"},
          {"kernel_too_big", {ones({1, 1, 2, 2}), ones({1, 1, 3, 3})}, geometry({1, 1}, {0, 0}, {1, 1}, 1), "padded to"},
          {"bias", {ones({1, 1, 4, 4}), ones({2, 1, 2, 2}), ones({3})}, geometry({1, 1}, {0, 0}, {1, 1}, 1), "expected a bias of shape [2]"},
          {"int", {ones({1, 1, 4, 4}, kInt64), ones({1, 1, 2, 2}, kInt64)}, geometry({1, 1}, {0, 0}, {1, 1}, 1),
           "expected floating-point tensors"},
          {"same_stride", {ones({1, 1, 4, 4}), ones({1, 1, 3, 3})},
           plus(geometry({2, 2}, {0, 0}, {1, 1}, 1), {"padding_mode", std::string("same")}), "padding=\"same\" needs stride 1"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "conv_transpose2d",
        [](const Tensors& x, const Attrs& a) {
          return one(F::conv_transpose2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), a.ints("stride"), a.ints("padding"),
                                         a.ints("output_padding"), a.i("groups"), a.ints("dilation")));
        },
        [](DType t) {
          Maker m("conv_transpose2d", t);
          auto g = [](Ints stride, Ints padding, Ints out_pad, Ints dilation, int64_t groups) {
            return plus(geometry(std::move(stride), std::move(padding), std::move(dilation), groups), {"output_padding", std::move(out_pad)});
          };
          std::vector<Sample> s;
          s.push_back({"bias", {m({1, 2, 3, 3}), m({2, 3, 2, 2}), m({3})}, g({1, 1}, {0, 0}, {0, 0}, {1, 1}, 1)});
          s.push_back({"stride_output_padding", {noncontiguous(m({1, 2, 3, 2})), m({2, 2, 3, 3})}, g({2, 2}, {1, 1}, {1, 0}, {1, 1}, 1)});
          s.push_back({"groups_dilation", {m({1, 4, 3, 3}), m({4, 1, 2, 2}), m({2})}, g({1, 1}, {0, 0}, {0, 0}, {2, 1}, 2)});
          s.push_back({"stride_dilation_bias", {m({2, 2, 3, 4}), m({2, 3, 3, 2}), m({3})}, g({2, 2}, {1, 0}, {1, 1}, {1, 2}, 1)});
          s.push_back({"groups_output_padding", {m({1, 4, 3, 3}), m({4, 1, 2, 3})}, g({1, 2}, {0, 1}, {0, 1}, {1, 1}, 2)});
          s.push_back({"empty", {m({0, 2, 3, 3}), m({2, 3, 2, 2})}, g({1, 1}, {0, 0}, {0, 0}, {1, 1}, 1)});
          s.push_back({"large", {m({2, 8, 12, 12}), m({8, 6, 3, 3}), m({6})}, g({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1), false});
          return s;
        },
        "F.conv_transpose2d(x[0], x[1], x[2] if len(x) > 2 else None, A['stride'], A['padding'], A['output_padding'], "
        "A['groups'], A['dilation'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"channels", {ones({1, 3, 4, 4}), ones({2, 2, 2, 2})},
           plus(geometry({1, 1}, {0, 0}, {1, 1}, 1), {"output_padding", Ints{0, 0}}), "has 3"},
          {"output_padding", {ones({1, 1, 4, 4}), ones({1, 1, 2, 2})},
           plus(geometry({1, 1}, {0, 0}, {1, 1}, 1), {"output_padding", Ints{1, 1}}), "must be smaller than either stride"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (grad_output, weight) -> grad_input; padding [top, left, bottom, right].
    OpEntry e = entry(
        "conv2d_backward_input", dispatch("conv2d_backward_input"),
        [](DType t) {
          Maker m("conv2d_backward_input", t);
          auto g = [](Ints stride, Ints pad, Ints dil, int64_t groups, Ints size) {
            return plus(geometry(std::move(stride), std::move(pad), std::move(dil), groups), {"input_size", std::move(size)});
          };
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 3, 3, 3}), m({3, 2, 2, 2})}, g({1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {1, 2, 4, 4})});
          s.push_back({"stride_padding", {noncontiguous(m({2, 2, 3, 3})), m({2, 2, 3, 2})},
                       g({2, 1}, {1, 0, 1, 0}, {1, 1}, 1, {2, 2, 5, 4})});
          s.push_back({"groups", {m({1, 4, 3, 3}), m({4, 2, 2, 2})}, g({1, 1}, {0, 0, 0, 0}, {1, 1}, 2, {1, 4, 4, 4})});
          s.push_back({"empty", {m({0, 3, 3, 3}), m({3, 2, 2, 2})}, g({1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 2, 4, 4})});
          s.push_back({"large", {m({4, 16, 16, 16}), m({16, 8, 3, 3})}, g({1, 1}, {1, 1, 1, 1}, {1, 1}, 1, {4, 8, 16, 16}), false});
          return s;
        },
        "torch.nn.grad.conv2d_input(A['input_size'], x[1], x[0], A['stride'], A['padding'][:2], A['dilation'], A['groups'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"grad_shape", {ones({1, 3, 2, 2}), ones({3, 2, 2, 2})},
                                     plus(geometry({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), {"input_size", Ints{1, 2, 4, 4}}),
                                     "expected a gradient of shape [1, 3, 3, 3]"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (input, grad_output) -> grad_weight.
    OpEntry e = entry(
        "conv2d_backward_weight", dispatch("conv2d_backward_weight"),
        [](DType t) {
          Maker m("conv2d_backward_weight", t);
          auto g = [](Ints stride, Ints pad, Ints dil, int64_t groups, Ints size) {
            return plus(geometry(std::move(stride), std::move(pad), std::move(dil), groups), {"weight_size", std::move(size)});
          };
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 2, 4, 4}), m({1, 3, 3, 3})}, g({1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {3, 2, 2, 2})});
          s.push_back({"stride_padding", {noncontiguous(m({2, 2, 5, 4})), m({2, 2, 3, 3})},
                       g({2, 1}, {1, 0, 1, 0}, {1, 1}, 1, {2, 2, 3, 2})});
          s.push_back({"groups", {m({1, 4, 4, 4}), m({1, 4, 3, 3})}, g({1, 1}, {0, 0, 0, 0}, {1, 1}, 2, {4, 2, 2, 2})});
          s.push_back({"empty", {m({0, 2, 4, 4}), m({0, 3, 3, 3})}, g({1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {3, 2, 2, 2})});
          s.push_back({"large", {m({4, 8, 16, 16}), m({4, 16, 16, 16})}, g({1, 1}, {1, 1, 1, 1}, {1, 1}, 1, {16, 8, 3, 3}), false});
          return s;
        },
        "torch.nn.grad.conv2d_weight(x[0], A['weight_size'], x[1], A['stride'], A['padding'][:2], A['dilation'], A['groups'])");
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
