#pragma once
// Max pooling's 2x2 / stride 2 window (no padding, no dilation) on float32 planes, and the
// values-only pool of any window on channel-blocked planes (max_blocked_f32), compiled
// per ISA (pool_avx512.cc, pool_avx2.cc) and picked at run time with the ISA of float_loops() (CPU flags,
// TESSERA_ISA). The portable loops (pool_loops.h for the baseline table and float64;
// conv_blocked.cc's for the values-only pool) define the results: every kernel here must
// reproduce them bit for bit, indices included (tests/ops/pool_kernel_test.cc compares).
//
// The backward has no kernel here: pool.cc's per-plane fill and scalar scatter already run
// at memory speed. Two AVX-512 versions measured slower on the 2-core AMD EPYC (Zen 4)
// dev machine: one writing every element with vector stores (the CPU then reads each line
// before writing it, where the fill of a few-KB plane does not), one checking the indices
// 16 at a time before a scalar scatter (more work than the scalar loop's own range check).
#include <cstdint>
#include <string_view>

namespace tessera::cpu::vec {

// One contiguous H x W plane x into y and idx (OH x OW each, 2 * OH <= H, 2 * OW <= W,
// W < 2^30): y = the max of each window, idx = its flat position in the plane. The first
// of equal values wins; a NaN beats any number, and a later NaN beats an earlier one (the
// rule of `v > best || isnan(v)` visiting the window row by row).
using MaxPool2x2Fn = void (*)(const float* x, int64_t H, int64_t W, float* y, int64_t* idx,
                              int64_t OH, int64_t OW);
// The same windows over one channel-blocked plane (H x W x B floats, a compiled training
// step's layout; ops/conv_blocked.cc; B = the table's `block`): y and idx OH x OW x B, idx
// the position in the plane as above, the same rule per lane.
using MaxPool2x2BlockedFn = void (*)(const float* x, int64_t W, float* y, int64_t* idx, int64_t OH, int64_t OW);
// Its gradient: gx = gy at each window's idx and 0 at its three other elements, over the
// 2 * OH x 2 * OW part of the plane (the caller zeroes the rest). Returns false, having
// written part of gx, when some idx is not in its own window (corrupt indices: the caller
// then scatters, range-checked).
using MaxPool2x2BlockedBackwardFn = bool (*)(const float* gy, const int64_t* idx, int64_t W, float* gx,
                                             int64_t OH, int64_t OW);
// Values only, any window (max_pool2d_blocked, compiled inference): one channel-blocked
// plane x (H x W x B floats) into y (OH x OW x B); taps outside the plane are skipped; the
// rule of conv_blocked.cc's portable loop, bit for bit (a window holding a NaN gives its
// last NaN per lane).
struct PoolWindow {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};
using MaxPoolBlockedFn = void (*)(const float* x, int64_t H, int64_t W, float* y, int64_t OH, int64_t OW,
                                  const PoolWindow& win);
struct PoolKernels {
  const char* isa;
  MaxPool2x2Fn max2x2_f32;
  // The channel-blocked kernels, for blocks of `block` lanes: one register per position,
  // 16 with AVX-512 and 8 with AVX2, the blocks ops::conv_channel_block() picks on such a
  // CPU. block 0 and nullptr where the ISA has none (the caller's portable loop then runs).
  int block = 0;
  MaxPool2x2BlockedFn max2x2_blocked_f32 = nullptr;
  MaxPool2x2BlockedBackwardFn max2x2_blocked_backward_f32 = nullptr;
  MaxPoolBlockedFn max_blocked_f32 = nullptr;
};

// The table of the ISA float_loops() uses. Picked once.
const PoolKernels& pool_kernels();
// A specific ISA's table ("avx512", "avx2", "baseline"), or nullptr when this CPU cannot
// run it (for tests).
const PoolKernels* pool_kernels_for(std::string_view isa);

}  // namespace tessera::cpu::vec
