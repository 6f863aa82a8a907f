#pragma once
// Helpers of the kernel tests that check an op's CPU kernel against a float64 reference
// written in the test (the Winograd and first-layer convolution tests).
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/op.h"
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

}  // namespace tessera::kernel_test
