#pragma once
// Helpers of the kernel tests that check an op's CPU kernel against a float64 reference
// written in the test (the Winograd and first-layer convolution tests).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ops/op.h"
#include "tessera/ops.h"
#include "tessera/tensor.h"

namespace tessera::kernel_test {

// The op named `op` on `in` with exactly `attrs` (internal ops included).
inline Tensor call(const char* op, const std::vector<Tensor>& in, const ops::Attrs& attrs) {
  return ops::call1(*ops::find_op(op), in, attrs);
}

// A 3x3 stride-1 convolution's shape for the gradient tests: n images of c x h x w, k
// output channels, the forward's padding.
struct Conv3x3Case {
  int64_t n, c, h, w, k;
  std::vector<int64_t> pad;  // the forward's: top, left, bottom, right
  int64_t oh() const { return h + pad[0] + pad[2] - 2; }
  int64_t ow() const { return w + pad[1] + pad[3] - 2; }
};

// Calls tap(n, k, i, j, c, a, b, iy, ix) for every product of the convolution s: output
// (n, k, i, j) reads input (n, c, iy, ix) through tap (a, b) of w[k][c]. The float64
// references of the gradients sum over it.
template <typename Tap>
void for_each_product(const Conv3x3Case& s, Tap&& tap) {
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t i = 0; i < s.oh(); ++i)
        for (int64_t j = 0; j < s.ow(); ++j)
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t a = 0; a < 3; ++a)
              for (int64_t b = 0; b < 3; ++b) {
                const int64_t iy = i - s.pad[0] + a, ix = j - s.pad[1] + b;
                if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) tap(n, k, i, j, c, a, b, iy, ix);
              }
}

// ||got - want|| / ||want||, the figure those tests print and bound.
inline double rel_l2(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

// Whether two float tensors hold the same bits.
inline bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// The gradient of a Winograd convolution fused with its 2x2 max pooling
// (conv2d_max_pool2x2_blocked), for the tests of the _unpool gradient passes: a random
// input in blocks of `block`, a weight whose every third output channel is zero (ties in
// every window), the pooled gradient gp with a NaN, the pooling's indices (the first one
// moved into the next window when `corrupt`), the unpooled gradient gy the plain passes
// read, and the two passes' attributes.
struct UnpoolGradientCase {
  Tensor w, xb, gp, idx, gy;
  ops::Attrs conv, input_attrs, weight_attrs;
};

inline UnpoolGradientCase unpool_gradient_case(int64_t n, int64_t c, int64_t h, int64_t w_, int64_t k, int64_t pad,
                                               bool corrupt, int64_t block, const std::string& precision) {
  UnpoolGradientCase r;
  const std::vector<int64_t> padding(4, pad), ones{1, 1};
  std::vector<float> wv = randn({k, c, 3, 3}).to_vector<float>();
  for (int64_t o = 0; o < k; o += 3) std::fill(wv.begin() + o * c * 9, wv.begin() + (o + 1) * c * 9, 0.f);
  r.w = tensor(wv, {k, c, 3, 3});
  const Tensor b = randn({k});
  r.xb = call("to_blocked", {relu(randn({n, c, h, w_}))}, {{"block", block}});
  r.conv = ops::Attrs{{"stride", ones},        {"padding", padding},
                      {"dilation", ones},      {"groups", int64_t{1}},
                      {"in_channels", c},      {"out_channels", k},
                      {"activation", std::string("none")}, {"algorithm", std::string("winograd")},
                      {"precision", precision}};
  const std::vector<Tensor> pooled = ops::call(*ops::find_op("conv2d_max_pool2x2_blocked"), {r.xb, r.w, b}, r.conv);
  std::vector<float> gv = randn(pooled[0].sizes()).to_vector<float>();
  gv[5] = std::nanf("");
  r.gp = tensor(gv, pooled[0].sizes());
  r.idx = pooled[1];
  if (corrupt) {  // the first window's index names the next window's first position
    std::vector<int64_t> iv = r.idx.to_vector<int64_t>();
    iv[0] = 2;
    r.idx = tensor(iv, r.idx.sizes());
  }
  const int64_t oh = h + 2 * pad - 2, ow = w_ + 2 * pad - 2;
  r.gy = call("max_pool2d_backward_blocked", {r.gp, r.idx}, {{"input_size", std::vector<int64_t>{n, k, oh, ow}}});
  auto attrs = [&](const char* size_name, std::vector<int64_t> size) {
    return ops::Attrs{{"stride", ones},       {"padding", padding},
                      {"dilation", ones},     {"groups", int64_t{1}},
                      {"algorithm", std::string("winograd")}, {"precision", precision},
                      {size_name, std::move(size)}};
  };
  r.input_attrs = attrs("input_size", {n, c, h, w_});
  r.weight_attrs = attrs("weight_size", {k, c, 3, 3});
  return r;
}

}  // namespace tessera::kernel_test
