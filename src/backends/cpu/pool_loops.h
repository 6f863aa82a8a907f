#pragma once
// The portable loops of max pooling's 2x2 / stride 2 window (no padding, no dilation):
// float64, and float32 on CPUs without an ISA kernel (vec/pool.h, whose contracts these
// define and which must match them bit for bit). Include only from files compiled for the
// baseline ISA: an instantiation here may be shared by the linker with every caller.
#include <cstdint>

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

// See vec::MaxPool2x2BackwardFn: the zero fill and the scatter in one write of each
// element, instead of a fill pass and a scatter that reads the plane back.
template <typename T>
bool max_pool2x2_backward_plane(const T* gy, const int64_t* idx, int64_t OH, int64_t OW, T* gx,
                                int64_t H, int64_t W) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* o0 = gx + 2 * oh * W;
    T* o1 = o0 + W;
    const T* g = gy + oh * OW;
    const int64_t* ix = idx + oh * OW;
    bool bad = false;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t d = ix[ow] - (2 * oh * W + 2 * ow);
      const T v = T(0) + g[ow];  // as the general path's fill plus +=: -0 lands as +0
      o0[2 * ow] = d == 0 ? v : T(0);
      o0[2 * ow + 1] = d == 1 ? v : T(0);
      o1[2 * ow] = d == W ? v : T(0);
      o1[2 * ow + 1] = d == W + 1 ? v : T(0);
      bad |= (d != 0) & (d != 1) & (d != W) & (d != W + 1);
    }
    if (bad) return false;
    for (int64_t c = 2 * OW; c < W; ++c) o0[c] = o1[c] = T(0);
  }
  for (int64_t i = 2 * OH * W; i < H * W; ++i) gx[i] = T(0);
  return true;
}

}  // namespace tessera::cpu
