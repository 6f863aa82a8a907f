// CPU kernels of the ops that reduce along one dim but keep its shape: cumsum, softmax,
// log_softmax. The input is viewed as [outer, n, inner] (made contiguous first, the output
// is contiguous already). inner == 1 is the row case (softmax over the last dim); otherwise
// a tile of adjacent inner positions is processed together so the loops over the tile run
// on contiguous memory.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/cpu/vec/float_loops.h"
#include "ops/copy.h"
#include "ops/reduce.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
double sum_contiguous(const float* p, int64_t n);  // reduce.cc
// softmax (log_softmax when `log`) of the n floats at x into y, which may be x: also the
// fused attention kernel's (nn.cc).
void softmax_row_f32(const float* x, float* y, int64_t n, bool log);

namespace {

using ops::KernelCall;

constexpr int64_t kTile = 64;
constexpr int64_t kGrain = 32768;

struct ScanShape {
  int64_t outer = 1, n = 1, inner = 1;
};

ScanShape scan_shape(const Tensor& x, int64_t dim) {
  ScanShape s;
  if (x.dim() == 0) return s;
  const int64_t d = wrap_dim(dim, x.dim(), "scan");
  for (int64_t i = 0; i < x.dim(); ++i) {
    const int64_t size = x.sizes()[static_cast<size_t>(i)];
    if (i < d) s.outer *= size;
    else if (i == d) s.n = size;
    else s.inner *= size;
  }
  return s;
}

// Calls body(x_tile, y_tile, tile_width) for every tile of every outer slice, in parallel.
// Element l of column j of a tile is at tile[l * inner + j].
template <typename T, typename Body>
void for_each_tile(const ScanShape& s, const T* x, T* y, Body body) {
  if (s.outer == 0 || s.n == 0 || s.inner == 0) return;
  if (s.inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrain / s.n);
    parallel_for(0, s.outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) body(x + o * s.n, y + o * s.n, int64_t{1});
    });
    return;
  }
  const int64_t ntiles = (s.inner + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, kGrain / (s.n * kTile));
  parallel_for(0, s.outer * ntiles, grain, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t o = item / ntiles;
      const int64_t j0 = (item % ntiles) * kTile;
      const int64_t off = o * s.n * s.inner + j0;
      body(x + off, y + off, std::min(kTile, s.inner - j0));
    }
  });
}

template <typename T>
T max_propagating_nan(T a, T x) {
  return (x > a || x != x) ? x : a;
}

// The sum of the exponentials is kept in a wider type than T: double for float, long
// double for double (a double sum of n terms can be n eps off, hundreds of ulps on a long
// row; the adds are cheap next to the exps).
template <typename T, bool kLog>
void softmax_impl(const ScanShape& s, const T* x, T* y) {
  using acc_t = std::conditional_t<std::is_same_v<T, double>, long double, double>;
  const int64_t n = s.n, inner = s.inner;
  for_each_tile(s, x, y, [&](const T* xt, T* yt, int64_t tw) {
    if (inner == 1) {
      // All -inf (or NaN) rows come out NaN, as in PyTorch: exp(-inf - -inf).
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) m = max_propagating_nan(m, xt[i]);
      acc_t sum = 0;
      if constexpr (kLog) {
        for (int64_t i = 0; i < n; ++i) sum += static_cast<acc_t>(std::exp(xt[i] - m));
        // (x - m) - log(sum), not x - (m + log(sum)): the shift rounds badly when |m| is big.
        const T lse = static_cast<T>(std::log(sum));
        for (int64_t i = 0; i < n; ++i) yt[i] = (xt[i] - m) - lse;
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const T e = std::exp(xt[i] - m);
          yt[i] = e;
          sum += static_cast<acc_t>(e);
        }
        const T inv = static_cast<T>(1 / sum);
        for (int64_t i = 0; i < n; ++i) yt[i] *= inv;
      }
      return;
    }
    T m[kTile];
    acc_t sum[kTile];
    for (int64_t j = 0; j < tw; ++j) {
      m[j] = -std::numeric_limits<T>::infinity();
      sum[j] = 0;
    }
    for (int64_t l = 0; l < n; ++l)
      for (int64_t j = 0; j < tw; ++j) m[j] = max_propagating_nan(m[j], xt[l * inner + j]);
    for (int64_t l = 0; l < n; ++l)
      for (int64_t j = 0; j < tw; ++j) {
        const T e = std::exp(xt[l * inner + j] - m[j]);
        if constexpr (!kLog) yt[l * inner + j] = e;
        sum[j] += static_cast<acc_t>(e);
      }
    if constexpr (kLog) {
      T lse[kTile];
      for (int64_t j = 0; j < tw; ++j) lse[j] = static_cast<T>(std::log(sum[j]));
      for (int64_t l = 0; l < n; ++l)
        for (int64_t j = 0; j < tw; ++j) yt[l * inner + j] = (xt[l * inner + j] - m[j]) - lse[j];
    } else {
      T inv[kTile];
      for (int64_t j = 0; j < tw; ++j) inv[j] = static_cast<T>(1 / sum[j]);
      for (int64_t l = 0; l < n; ++l)
        for (int64_t j = 0; j < tw; ++j) yt[l * inner + j] *= inv[j];
    }
  });
}

float max_contiguous(const float* p, int64_t n) {
  // 16 lanes of a plain max (a maxps) plus a NaN flag from the bits (an integer compare):
  // the loop vectorizes, where the NaN-propagating select compiled to two branches per
  // element (a tenth of the encoder's compiled run). A NaN anywhere gives NaN.
  constexpr int L = 16;
  float lane[L];
  uint32_t nan[L] = {};
  for (int j = 0; j < L; ++j) lane[j] = -std::numeric_limits<float>::infinity();
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(p);
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; ++j) {
      const float x = p[i + j];
      lane[j] = x > lane[j] ? x : lane[j];
      nan[j] |= static_cast<uint32_t>((bits[i + j] & 0x7fffffffu) > 0x7f800000u);
    }
  float m = -std::numeric_limits<float>::infinity();
  bool any_nan = false;
  for (int j = 0; j < L; ++j) {
    m = lane[j] > m ? lane[j] : m;
    any_nan = any_nan || nan[j] != 0;
  }
  for (; i < n; ++i) m = max_propagating_nan(m, p[i]);
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

}  // namespace

void softmax_row_f32(const float* x, float* y, int64_t n, bool log) {
  const vec::FloatLoops& v = vec::float_loops();
  const auto sub_s = v.binary_vs[static_cast<int>(vec::Binary::Sub)];
  const float m = max_contiguous(x, n);
  sub_s(x, m, y, n);
  v.unary[static_cast<int>(vec::Unary::Exp)](y, y, n, {});
  const double sum = sum_contiguous(y, n);
  if (log) {
    sub_s(x, m, y, n);
    sub_s(y, static_cast<float>(std::log(sum)), y, n);
  } else {
    v.binary_vs[static_cast<int>(vec::Binary::Mul)](y, static_cast<float>(1.0 / sum), y, n);
  }
}

namespace {

// float32 runs on the ISA-specific vector loops (vectorized exp), which std::exp is not.
template <bool kLog>
void softmax_f32(const ScanShape& s, const float* x, float* y) {
  const vec::FloatLoops& v = vec::float_loops();
  const auto sub = v.binary[static_cast<int>(vec::Binary::Sub)];
  const auto mul = v.binary[static_cast<int>(vec::Binary::Mul)];
  const auto exp = v.unary[static_cast<int>(vec::Unary::Exp)];
  const int64_t n = s.n, inner = s.inner;
  for_each_tile(s, x, y, [&](const float* xt, float* yt, int64_t tw) {
    if (inner == 1) {
      softmax_row_f32(xt, yt, n, kLog);
      return;
    }
    float m[kTile], t[kTile];
    double sum[kTile];
    for (int64_t j = 0; j < tw; ++j) {
      m[j] = -std::numeric_limits<float>::infinity();
      sum[j] = 0;
    }
    for (int64_t l = 0; l < n; ++l)
      for (int64_t j = 0; j < tw; ++j) m[j] = max_propagating_nan(m[j], xt[l * inner + j]);
    for (int64_t l = 0; l < n; ++l) {
      float* row = yt + l * inner;
      sub(xt + l * inner, m, row, tw);
      exp(row, row, tw, {});
      for (int64_t j = 0; j < tw; ++j) sum[j] += static_cast<double>(row[j]);
    }
    for (int64_t j = 0; j < tw; ++j)
      t[j] = kLog ? static_cast<float>(std::log(sum[j])) : static_cast<float>(1.0 / sum[j]);
    for (int64_t l = 0; l < n; ++l) {
      float* row = yt + l * inner;
      if constexpr (kLog) {
        sub(xt + l * inner, m, row, tw);
        sub(row, t, row, tw);
      } else {
        mul(row, t, row, tw);
      }
    }
  });
}

// Floats accumulate in double (PyTorch's CPU accumulation type), integers in int64 with
// wrap-around instead of signed-overflow UB.
template <typename T>
void cumsum_impl(const ScanShape& s, const T* x, T* y) {
  const int64_t n = s.n, inner = s.inner;
  using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
  for_each_tile(s, x, y, [&](const T* xt, T* yt, int64_t tw) {
    acc_t acc[kTile] = {};
    for (int64_t l = 0; l < n; ++l)
      for (int64_t j = 0; j < tw; ++j) {
        acc[j] += static_cast<acc_t>(xt[l * inner + j]);
        yt[l * inner + j] = static_cast<T>(acc[j]);
      }
  });
}

template <bool kLog>
void softmax_kernel(const KernelCall& c) {
  const Tensor x = contiguous(c.inputs[0]);
  const ScanShape s = scan_shape(x, c.attrs.i("dim"));
  if (x.dtype() == kFloat32) {
    softmax_f32<kLog>(s, x.data<float>(), c.outputs[0].data<float>());
    return;
  }
  TESSERA_DISPATCH_FLOATING(x.dtype(), c.op.name, [&] {
    softmax_impl<scalar_t, kLog>(s, x.data<scalar_t>(), c.outputs[0].data<scalar_t>());
  });
}

void cumsum_kernel(const KernelCall& c) {
  const Tensor x = contiguous(c.inputs[0]);
  const ScanShape s = scan_shape(x, c.attrs.i("dim"));
  TESSERA_DISPATCH_NUMERIC(x.dtype(), "cumsum", [&] {
    if constexpr (!std::is_same_v<scalar_t, bool>)
      cumsum_impl<scalar_t>(s, x.data<scalar_t>(), c.outputs[0].data<scalar_t>());
  });
}

}  // namespace

void register_scan_kernels() {
  using namespace ops;
  register_kernel(kCumsum, Device::CPU, cumsum_kernel, kNumericMask);
  register_kernel(kSoftmax, Device::CPU, softmax_kernel<false>, kFloatMask);
  register_kernel(kLogSoftmax, Device::CPU, softmax_kernel<true>, kFloatMask);
}

}  // namespace tessera::cpu
