#pragma once
// The portable loops of max pooling: the 2x2 / stride 2 window (no padding, no dilation)
// for float64, and float32 on CPUs without an ISA kernel (vec/pool.h, whose contract this
// defines and which must match it bit for bit), and any other window. Include only from files compiled for the
// baseline ISA: an instantiation here may be shared by the linker with every caller.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <type_traits>
#include <limits>

namespace tessera::cpu {

// See vec::MaxPool2x2Fn. Written for the vectorizer: the window's value and which of its
// 4 taps won (an int32 per output, as wide as a float) in one branch-free loop, the int64
// index from that in a second. With random data the comparisons are coin flips, and a
// loop with branches costs a misprediction per window. Same visiting order and NaN rule
// as the general loop in pool.cc.
template <typename T>
void max_pool2x2_plane(const T* x, int64_t W, T* y, int64_t* idx, int64_t OH, int64_t OW) {
  int32_t which[64];
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* yrow = y + oh * OW;
    int64_t* irow = idx + oh * OW;
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 64) {
      const int64_t len = OW - ow0 < 64 ? OW - ow0 : 64;
      for (int64_t j = 0; j < len; ++j) {
        const int64_t ow = ow0 + j;
        const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        T best = a;
        int32_t w = 0;
        const bool tb = (b > best) | (b != b);
        best = tb ? b : best;
        w = tb ? 1 : w;
        const bool tc = (c > best) | (c != c);
        best = tc ? c : best;
        w = tc ? 2 : w;
        const bool td = (d > best) | (d != d);
        best = td ? d : best;
        w = td ? 3 : w;
        yrow[ow] = best;
        which[j] = w;
      }
      for (int64_t j = 0; j < len; ++j) {
        const int64_t ow = ow0 + j;
        irow[ow] = (2 * oh + (which[j] >> 1)) * W + 2 * ow + (which[j] & 1);
      }
    }
  }
}

// Any window of max_pool2d on one (n, c) plane: kernel, stride, padding and dilation per
// dimension.
struct PoolWindow {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// The taps [first, last) of a window that starts at `start` (possibly in the padding) and
// lie inside an extent of `size`.
inline void taps_inside(int64_t start, int64_t k, int64_t dil, int64_t size, int64_t& first, int64_t& last) {
  first = start < 0 ? (-start + dil - 1) / dil : 0;
  last = start > size - 1 ? 0 : std::min(k, (size - 1 - start) / dil + 1);
}

// `take ? v : best` (and the index alongside) as bit masks: GCC turns the plain conditional
// into branches and conditional stores, which mispredict on real activations.
template <typename T>
inline void keep_max(T v, int64_t i, T& best, int64_t& best_i) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const bool take = (v > best) | (v != v);
  const Bits m = Bits{0} - static_cast<Bits>(take);
  best = std::bit_cast<T>((std::bit_cast<Bits>(v) & m) | (std::bit_cast<Bits>(best) & ~m));
  const int64_t mi = -static_cast<int64_t>(take);
  best_i = (i & mi) | (best_i & ~mi);
}

// One output of the general loop: the window's taps inside the input are [ki0, ki1) x
// [kj0, kj1); the first maximum wins, NaN wins, and a window of -inf keeps its first tap.
template <typename T>
inline void max_pool_window(const T* __restrict x, int64_t W, int64_t h0, int64_t w0, int64_t ki0, int64_t ki1,
                            int64_t kj0, int64_t kj1, const PoolWindow& win, T& y, int64_t& idx) {
  T best = -std::numeric_limits<T>::infinity();
  int64_t best_i = (h0 + ki0 * win.dh) * W + (w0 + kj0 * win.dw);
  for (int64_t ki = ki0; ki < ki1; ++ki) {
    const int64_t row = (h0 + ki * win.dh) * W;
    for (int64_t kj = kj0; kj < kj1; ++kj) {
      const int64_t i = row + w0 + kj * win.dw;
      keep_max(x[i], i, best, best_i);
    }
  }
  y = best;
  idx = best_i;
}

// The general max pooling loop (any window), with the same results as visiting each
// window's taps in row-major order. The winner is kept with selects: on real activations
// which tap wins is a coin toss, and a branch per tap mispredicts half the time. Windows
// wholly inside a row's columns run tap by tap over up to 64 outputs at once, so the
// compare-and-select chains of neighbouring outputs overlap instead of each output waiting
// on its own chain; only the few at the edges check their taps. Measured on ResNet-18's
// stem pool (3x3, stride 2, padding 1, 64 x 112 x 112, 1 thread): 8.4 ms with a branch per
// tap and one window at a time.
template <typename T>
void max_pool_plane(const T* __restrict x, int64_t H, int64_t W, T* __restrict y, int64_t* __restrict idx,
                    int64_t OH, int64_t OW, const PoolWindow win) {
  // Columns whose windows lie inside [0, W): w0 >= 0 and w0 + (kw - 1) * dw <= W - 1.
  const int64_t span = (win.kw - 1) * win.dw;
  const int64_t lo = std::min(OW, (win.pw + win.sw - 1) / win.sw);
  const int64_t hi = W - 1 - span + win.pw < 0 ? lo : std::max(lo, std::min(OW, (W - 1 - span + win.pw) / win.sw + 1));
  constexpr int64_t kChunk = 64;
  T best[kChunk];
  int64_t best_i[kChunk];
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t h0 = oh * win.sh - win.ph;
    int64_t ki0 = 0, ki1 = 0;
    taps_inside(h0, win.kh, win.dh, H, ki0, ki1);
    T* yrow = y + oh * OW;
    int64_t* irow = idx + oh * OW;
    auto edge = [&](int64_t ow) {
      const int64_t w0 = ow * win.sw - win.pw;
      int64_t kj0 = 0, kj1 = 0;
      taps_inside(w0, win.kw, win.dw, W, kj0, kj1);
      max_pool_window(x, W, h0, w0, ki0, ki1, kj0, kj1, win, yrow[ow], irow[ow]);
    };
    for (int64_t ow = 0; ow < lo; ++ow) edge(ow);
    for (int64_t c0 = lo; c0 < hi; c0 += kChunk) {
      const int64_t n = std::min(kChunk, hi - c0);
      const int64_t first = (h0 + ki0 * win.dh) * W + c0 * win.sw - win.pw;  // column c0's first tap
      for (int64_t j = 0; j < n; ++j) {
        best[j] = -std::numeric_limits<T>::infinity();
        best_i[j] = first + j * win.sw;
      }
      for (int64_t ki = ki0; ki < ki1; ++ki)
        for (int64_t kj = 0; kj < win.kw; ++kj) {
          const int64_t base = (h0 + ki * win.dh) * W + c0 * win.sw - win.pw + kj * win.dw;
          for (int64_t j = 0; j < n; ++j) {
            const int64_t i = base + j * win.sw;
            keep_max(x[i], i, best[j], best_i[j]);
          }
        }
      for (int64_t j = 0; j < n; ++j) {
        yrow[c0 + j] = best[j];
        irow[c0 + j] = best_i[j];
      }
    }
    for (int64_t ow = hi; ow < OW; ++ow) edge(ow);
  }
}

}  // namespace tessera::cpu
