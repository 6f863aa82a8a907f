#pragma once
// Max pooling's 2x2 / stride 2 window (no padding, no dilation) on float32 planes, compiled
// per ISA (pool_avx512.cc) and picked at run time with the ISA of float_loops() (CPU flags,
// TESSERA_ISA). The portable loops of pool_loops.h (the baseline table, and float64) define
// the results: every kernel here must reproduce them bit for bit, indices included
// (tests/ops/pool_kernel_test.cc compares them).
#include <cstdint>
#include <string_view>

namespace tessera::cpu::vec {

// One contiguous H x W plane x into y and idx (OH x OW each, 2 * OH <= H, 2 * OW <= W,
// W < 2^30): y = the max of each window, idx = its flat position in the plane. The first
// of equal values wins; a NaN beats any number, and a later NaN beats an earlier one (the
// rule of `v > best || isnan(v)` visiting the window row by row).
using MaxPool2x2Fn = void (*)(const float* x, int64_t H, int64_t W, float* y, int64_t* idx,
                              int64_t OH, int64_t OW);
// The gradient: every gx element is 0, or 0 + gy of the output whose index names it. Valid
// only when each index lies in its own output's window (the windows are disjoint, so no two
// outputs add into one element); returns false as soon as one does not, leaving gx partly
// written, and the caller then runs the general scatter, which checks the indices.
using MaxPool2x2BackwardFn = bool (*)(const float* gy, const int64_t* idx, int64_t OH,
                                      int64_t OW, float* gx, int64_t H, int64_t W);

struct PoolKernels {
  const char* isa;
  MaxPool2x2Fn max2x2_f32;
  MaxPool2x2BackwardFn max2x2_backward_f32;
};

// The table of the ISA float_loops() uses. Picked once.
const PoolKernels& pool_kernels();
// A specific ISA's table ("avx512", "avx2", "baseline"), or nullptr when this CPU cannot
// run it (for tests).
const PoolKernels* pool_kernels_for(std::string_view isa);

}  // namespace tessera::cpu::vec
