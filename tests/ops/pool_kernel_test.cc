// Max pooling's 2x2 / stride 2 fast path (src/backends/cpu/vec/pool.h and pool.cc):
// every ISA table against a naive reference written here, bit for bit (values, indices,
// ties, -inf, NaN, row tails shorter and longer than a vector, no write past the end), and
// the op, forward and backward, on float32/float64, odd sizes, -0 and NaN gradients,
// non-contiguous input, and the shapes that take the general path (ceil_mode, padding,
// other kernels, indices the forward would not give).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cpu/vec/pool.h"
#include "ops/conv.h"
#include "ops/op.h"
#include "tessera/error.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace tessera {
namespace {

struct PoolCfg {
  int64_t k[2] = {2, 2}, s[2] = {2, 2}, p[2] = {0, 0};
  bool ceil_mode = false;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = in + 2 * p - k;
  int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= in + p) --o;  // the last window must start inside
  return o;
}

// The rule of the general loop in pool.cc, written plainly: taps in row-major order, the
// first in-bounds tap is the start, a tap wins when greater or NaN.
template <typename T>
void ref_forward(const T* x, int64_t H, int64_t W, const PoolCfg& c, int64_t OH, int64_t OW,
                 std::vector<T>& y, std::vector<int64_t>& idx) {
  y.assign(static_cast<size_t>(OH * OW), T(0));
  idx.assign(static_cast<size_t>(OH * OW), -1);
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      T best = -std::numeric_limits<T>::infinity();
      int64_t bi = -1;
      for (int64_t i = 0; i < c.k[0]; ++i)
        for (int64_t j = 0; j < c.k[1]; ++j) {
          const int64_t h = oh * c.s[0] - c.p[0] + i, w = ow * c.s[1] - c.p[1] + j;
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          const T v = x[h * W + w];
          if (bi < 0) bi = h * W + w;
          if (v > best || std::isnan(v)) {
            best = v;
            bi = h * W + w;
          }
        }
      y[static_cast<size_t>(oh * OW + ow)] = best;
      idx[static_cast<size_t>(oh * OW + ow)] = bi;
    }
}

// Zero fill, then gx[idx] += gy: the gradient's definition.
template <typename T>
std::vector<T> ref_backward(const T* gy, const int64_t* idx, int64_t n_out, int64_t HW) {
  std::vector<T> gx(static_cast<size_t>(HW), T(0));
  for (int64_t i = 0; i < n_out; ++i) gx[static_cast<size_t>(idx[i])] += gy[i];
  return gx;
}

// Bitwise equality: NaN equals NaN, -0 differs from +0.
template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Values with ties (a few distinct levels), infinities and NaNs, or plain random.
template <typename T>
std::vector<T> pool_data(int64_t n, uint32_t seed, bool specials) {
  std::mt19937 gen(seed);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) {
    const uint32_t r = gen() % 100;
    if (!specials) e = static_cast<T>(static_cast<int32_t>(gen() % 20001) - 10000) / T(1000);
    else if (r < 8) e = -std::numeric_limits<T>::infinity();
    else if (r < 12) e = std::numeric_limits<T>::quiet_NaN();
    else if (r < 14) e = std::numeric_limits<T>::infinity();
    else e = static_cast<T>(gen() % 3);  // ties
  }
  return v;
}

const std::vector<std::pair<int64_t, int64_t>> kPlaneSizes = {
    {2, 2}, {24, 24}, {5, 7}, {3, 33}, {4, 34}, {2, 65}, {64, 64}, {9, 40}, {6, 1 + 2 * 31}};

TEST(PoolKernels, EveryIsaMatchesTheReference) {
  int tables = 0;
  for (const char* isa : {"avx512", "avx2", "baseline"}) {
    const cpu::vec::PoolKernels* t = cpu::vec::pool_kernels_for(isa);
    if (t == nullptr) continue;
    ++tables;
    for (const auto& [H, W] : kPlaneSizes)
      for (bool specials : {false, true}) {
        SCOPED_TRACE(std::string(isa) + " " + std::to_string(H) + "x" + std::to_string(W) +
                     (specials ? " specials" : ""));
        const int64_t OH = H / 2, OW = W / 2, n = OH * OW;
        const std::vector<float> x = pool_data<float>(H * W, static_cast<uint32_t>(H * 131 + W), specials);
        std::vector<float> want_y;
        std::vector<int64_t> want_i;
        ref_forward(x.data(), H, W, PoolCfg{}, OH, OW, want_y, want_i);
        // One spare element after each output: masked tails must not write past the end.
        std::vector<float> y(static_cast<size_t>(n + 1), 123.f);
        std::vector<int64_t> idx(static_cast<size_t>(n + 1), 77);
        t->max2x2_f32(x.data(), H, W, y.data(), idx.data(), OH, OW);
        EXPECT_EQ(y.back(), 123.f);
        EXPECT_EQ(idx.back(), 77);
        y.pop_back();
        idx.pop_back();
        EXPECT_TRUE(same_bits(y, want_y));
        EXPECT_EQ(idx, want_i);

      }
  }
  EXPECT_GE(tables, 2);  // baseline always, plus the CPU's own
}

// The channel-blocked kernels of every ISA table this CPU runs (blocks of 16 for AVX-512,
// 8 for AVX2): the ops call only the CPU's own table, whose block matches the layout, so
// without this an AVX-512 machine would never run the AVX2 ones. Each lane is a plane of
// its own, against the same reference: 2x2 values and indices, their gradient (and false
// for an index outside its window), the values-only pool of a padded 3x3 / 2 window.
TEST(PoolKernels, EveryIsasBlockedKernelsMatchTheReference) {
  int tables = 0;
  for (const char* isa : {"avx512", "avx2"}) {
    const cpu::vec::PoolKernels* t = cpu::vec::pool_kernels_for(isa);
    if (t == nullptr || t->block == 0) continue;
    ++tables;
    const int64_t B = t->block;
    for (const auto& [H, W] : kPlaneSizes)
      for (bool specials : {false, true}) {
        SCOPED_TRACE(std::string(isa) + " " + std::to_string(H) + "x" + std::to_string(W) +
                     (specials ? " specials" : ""));
        const int64_t OH = H / 2, OW = W / 2, n = OH * OW;
        const std::vector<float> x = pool_data<float>(H * W * B, static_cast<uint32_t>(H * 17 + W), specials);
        const std::vector<float> gy = pool_data<float>(n * B, 5, false);
        std::vector<float> y(static_cast<size_t>(n * B)), gx(static_cast<size_t>(H * W * B), 0.f);
        std::vector<int64_t> idx(static_cast<size_t>(n * B));
        t->max2x2_blocked_f32(x.data(), W, y.data(), idx.data(), OH, OW);
        EXPECT_TRUE(t->max2x2_blocked_backward_f32(gy.data(), idx.data(), W, gx.data(), OH, OW));
        PoolCfg wide;  // ResNet's stem window
        wide.k[0] = wide.k[1] = 3;
        wide.p[0] = wide.p[1] = 1;
        const int64_t WH = out_size(H, 3, 2, 1, false), WW = out_size(W, 3, 2, 1, false);
        std::vector<float> wy(static_cast<size_t>(WH * WW * B));
        t->max_blocked_f32(x.data(), H, W, wy.data(), WH, WW, cpu::vec::PoolWindow{3, 3, 2, 2, 1, 1, 1, 1});
        for (int64_t l = 0; l < B; ++l) {
          auto lane = [&](const auto& v, int64_t count) {
            std::vector<typename std::decay_t<decltype(v)>::value_type> out;
            for (int64_t i = 0; i < count; ++i) out.push_back(v[static_cast<size_t>(i * B + l)]);
            return out;
          };
          const std::vector<float> plane = lane(x, H * W);
          std::vector<float> want_y, want_wy;
          std::vector<int64_t> want_i, unused;
          ref_forward(plane.data(), H, W, PoolCfg{}, OH, OW, want_y, want_i);
          ref_forward(plane.data(), H, W, wide, WH, WW, want_wy, unused);
          EXPECT_TRUE(same_bits(lane(y, n), want_y)) << "lane " << l;
          EXPECT_EQ(lane(idx, n), want_i) << "lane " << l;
          const std::vector<float> lane_gy = lane(gy, n);
          EXPECT_TRUE(same_bits(lane(gx, H * W), ref_backward(lane_gy.data(), want_i.data(), n, H * W)))
              << "lane " << l;
          EXPECT_TRUE(same_bits(lane(wy, WH * WW), want_wy)) << "lane " << l;
        }
        // An index in the plane but outside its window: the caller must scatter instead.
        idx[static_cast<size_t>((n - 1) * B + B / 2)] = 0;
        if (n > 1) {
          EXPECT_FALSE(t->max2x2_blocked_backward_f32(gy.data(), idx.data(), W, gx.data(), OH, OW));
        }
      }
  }
  if (tables == 0) GTEST_SKIP() << "this CPU runs no blocked pooling kernels (neither AVX-512 nor AVX2)";
}

std::vector<int64_t> v64(std::initializer_list<int64_t> l) { return l; }

std::vector<Tensor> pool_op(const Tensor& x, const PoolCfg& c) {
  return ops::call(ops::kMaxPool2d, {x},
                   {{"kernel", v64({c.k[0], c.k[1]})},
                    {"stride", v64({c.s[0], c.s[1]})},
                    {"padding", v64({c.p[0], c.p[1]})},
                    {"dilation", v64({1, 1})},
                    {"ceil_mode", c.ceil_mode}});
}

Tensor pool_backward_op(const Tensor& gy, const Tensor& idx, const Shape& input) {
  return ops::call(ops::kMaxPool2dBackward, {gy, idx},
                   {{"input_size", std::vector<int64_t>(input.begin(), input.end())}})[0];
}

// The op over N x C planes against the reference, forward and backward.
template <typename T>
void check_op(const Shape& s, const PoolCfg& c, bool specials, bool noncontiguous) {
  const int64_t N = s[0], C = s[1], H = s[2], W = s[3], planes = N * C;
  const int64_t OH = out_size(H, c.k[0], c.s[0], c.p[0], c.ceil_mode);
  const int64_t OW = out_size(W, c.k[1], c.s[1], c.p[1], c.ceil_mode);
  const std::vector<T> xv = pool_data<T>(numel_of(s), static_cast<uint32_t>(H * 7 + W), specials);
  Tensor x = tensor<T>(xv, s);
  if (noncontiguous) {
    // The same values behind a permuted view: [C, N, H, W] storage seen as [N, C, H, W].
    x = x.permute({1, 0, 2, 3}).contiguous().permute({1, 0, 2, 3});
    ASSERT_FALSE(x.is_contiguous());
  }
  const std::vector<Tensor> out = pool_op(x, c);
  ASSERT_EQ(out[0].sizes(), (Shape{N, C, OH, OW}));
  const std::vector<T> y = out[0].to_vector<T>();
  const std::vector<int64_t> idx = out[1].to_vector<int64_t>();
  const std::vector<T> gyv = pool_data<T>(planes * OH * OW, 99, false);
  const std::vector<T> gx =
      pool_backward_op(tensor<T>(gyv, {N, C, OH, OW}), out[1], s).template to_vector<T>();
  for (int64_t pl = 0; pl < planes; ++pl) {
    std::vector<T> want_y;
    std::vector<int64_t> want_i;
    ref_forward(xv.data() + pl * H * W, H, W, c, OH, OW, want_y, want_i);
    const auto o = static_cast<std::ptrdiff_t>(pl * OH * OW);
    const std::vector<T> got_y(y.begin() + o, y.begin() + o + OH * OW);
    const std::vector<int64_t> got_i(idx.begin() + o, idx.begin() + o + OH * OW);
    EXPECT_TRUE(same_bits(got_y, want_y)) << "plane " << pl;
    EXPECT_EQ(got_i, want_i) << "plane " << pl;
    const std::vector<T> want_gx = ref_backward(gyv.data() + o, want_i.data(), OH * OW, H * W);
    const auto g = static_cast<std::ptrdiff_t>(pl * H * W);
    EXPECT_TRUE(same_bits(std::vector<T>(gx.begin() + g, gx.begin() + g + H * W), want_gx))
        << "plane " << pl;
  }
}

TEST(MaxPool2dFastPath, MatchesReference) {
  for (const Shape& s : {Shape{2, 3, 24, 24}, Shape{1, 2, 7, 9}, Shape{2, 1, 2, 34},
                         Shape{1, 1, 64, 64}, Shape{3, 2, 5, 66}})
    for (bool specials : {false, true}) {
      SCOPED_TRACE(shape_str(s) + (specials ? " specials" : ""));
      check_op<float>(s, PoolCfg{}, specials, false);
      check_op<double>(s, PoolCfg{}, specials, false);
    }
}

TEST(MaxPool2dFastPath, NonContiguousInput) {
  check_op<float>({3, 4, 8, 10}, PoolCfg{}, true, true);
  check_op<double>({3, 4, 7, 7}, PoolCfg{}, false, true);
}

TEST(MaxPool2dFastPath, OtherWindowsTakeTheGeneralPath) {
  PoolCfg ceil;  // 2x2 / 2 with ceil_mode: a partial last window on odd sizes
  ceil.ceil_mode = true;
  PoolCfg padded;  // 3x3 / 2, padding 1: output 2 * OH <= H, so the backward tries the
  padded.k[0] = padded.k[1] = 3;  // fused pass first and must fall back
  padded.p[0] = padded.p[1] = 1;
  PoolCfg pad2;  // 2x2 / 2 with padding 1
  pad2.p[0] = pad2.p[1] = 1;
  PoolCfg three;  // 3x3 / 3: no overlap, indices outside the 2x2 windows
  three.k[0] = three.k[1] = three.s[0] = three.s[1] = 3;
  for (const PoolCfg& c : {ceil, padded, pad2, three})
    for (bool specials : {false, true}) {
      check_op<float>({2, 3, 7, 9}, c, specials, false);
      check_op<float>({1, 2, 24, 24}, c, specials, false);
      check_op<double>({2, 1, 6, 6}, c, specials, false);
    }
}

TEST(MaxPool2dFastPath, BackwardWithForeignIndices) {
  // Indices the forward would never give (all at element 0 of the plane, or out of range):
  // the fused pass refuses them; the scatter adds them up or reports the bad one.
  const Shape in{1, 2, 4, 4};
  Tensor gy = tensor<float>({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
  Tensor idx = zeros({1, 2, 2, 2}, kInt64);
  const std::vector<float> gx = pool_backward_op(gy, idx, in).to_vector<float>();
  EXPECT_EQ(gx[0], 10.f);
  EXPECT_EQ(gx[16], 26.f);
  EXPECT_EQ(sum(abs(pool_backward_op(gy, idx, in))).item<float>(), 36.f);
  Tensor out_of_range = tensor<int64_t>({0, 3, 8, 16, 0, 1, 4, 5}, {1, 2, 2, 2});
  try {
    pool_backward_op(gy, out_of_range, in);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
}

// The values-only pool of compiled inference (max_pool2d_blocked, channels in lanes of 8 or
// 16) against the same reference, bit for bit: its lanes take the maximum with MAXPS and
// redo a window that held a NaN by the exact rule, so NaN-heavy data checks both halves.
// float32 takes the CPU's kernel for its own block (vec/pool.h: 16 with AVX-512, 8 with
// AVX2), the other block and float64 the portable loop.
template <typename T>
void check_blocked(int64_t block, const Shape& s, const PoolCfg& c, bool specials) {
  const int64_t N = s[0], C = s[1], H = s[2], W = s[3], Cb = (C + block - 1) / block;
  const int64_t OH = out_size(H, c.k[0], c.s[0], c.p[0], c.ceil_mode);
  const int64_t OW = out_size(W, c.k[1], c.s[1], c.p[1], c.ceil_mode);
  const std::vector<T> xv = pool_data<T>(numel_of(s), static_cast<uint32_t>(H * 5 + W + block), specials);
  std::vector<T> xb(static_cast<size_t>(N * Cb * H * W * block), T(0));  // padding lanes stay 0
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t i = 0; i < H * W; ++i)
        xb[static_cast<size_t>(((n * Cb + ch / block) * H * W + i) * block + ch % block)] =
            xv[static_cast<size_t>((n * C + ch) * H * W + i)];
  const Tensor y = ops::call1(ops::kMaxPool2dBlocked, {tensor<T>(xb, {N, Cb, H, W, block})},
                              {{"kernel", v64({c.k[0], c.k[1]})},
                               {"stride", v64({c.s[0], c.s[1]})},
                               {"padding", v64({c.p[0], c.p[1]})},
                               {"dilation", v64({1, 1})},
                               {"ceil_mode", c.ceil_mode}});
  ASSERT_EQ(y.sizes(), (Shape{N, Cb, OH, OW, block}));
  const std::vector<T> yv = y.to_vector<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch) {
      std::vector<T> want, got;
      std::vector<int64_t> idx;
      ref_forward(xv.data() + (n * C + ch) * H * W, H, W, c, OH, OW, want, idx);
      for (int64_t o = 0; o < OH * OW; ++o)
        got.push_back(yv[static_cast<size_t>(((n * Cb + ch / block) * OH * OW + o) * block + ch % block)]);
      EXPECT_TRUE(same_bits(got, want)) << "channel " << ch;
    }
}

TEST(MaxPool2dBlocked, MatchesTheReferenceWithNaNsInfinitiesAndTies) {
  PoolCfg two;  // 2x2 / 2
  PoolCfg padded;  // 3x3 / 2, padding 1: ResNet's stem pool
  padded.k[0] = padded.k[1] = 3;
  padded.p[0] = padded.p[1] = 1;
  PoolCfg ceil;  // a partial last window on odd sizes
  ceil.ceil_mode = true;
  for (const PoolCfg& c : {two, padded, ceil})
    for (bool specials : {false, true})
      for (int64_t block : {8, 16}) {
        SCOPED_TRACE("block " + std::to_string(block) + (specials ? " specials" : ""));
        check_blocked<float>(block, {2, 20, 9, 7}, c, specials);
        check_blocked<double>(block, {1, 17, 6, 11}, c, specials);
      }
}

}  // namespace
}  // namespace tessera
