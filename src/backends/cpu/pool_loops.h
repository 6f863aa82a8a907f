#pragma once
// The portable loop of max pooling's 2x2 / stride 2 window (no padding, no dilation):
// float64, and float32 on CPUs without an ISA kernel (vec/pool.h, whose contract this
// defines and which must match it bit for bit). Include only from files compiled for the
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

}  // namespace tessera::cpu
