#pragma once
// OpDefs of the random family, shared with its CPU kernels.
//
// Every random op carries the generator state it consumed as attributes ("seed" and
// "offset", the first Philox counter), so a recorded graph replays the same numbers.
// Element i of the output is a pure function of (seed, offset, i): block b = offset + i /
// per_block of Philox-4x32-10 keyed by the seed provides lane i % per_block. The
// per-block counts below are the contract between the ops (which reserve
// ceil(numel / per_block) counters) and the kernels (which consume them).
#include "ops/op.h"
#include "tessera/random.h"

namespace tessera::ops {

extern OpDef kRand;             // attrs: sizes, dtype, low, high, seed, offset
extern OpDef kRandn;            // attrs: sizes, dtype, mean, std, seed, offset
extern OpDef kRandint;          // attrs: sizes, dtype, low, high (int64), seed, offset
extern OpDef kBernoulli;        // input: probabilities; attrs: seed, offset
extern OpDef kBernoulliScalar;  // attrs: sizes, dtype, p, seed, offset
extern OpDef kRandperm;         // attrs: n, dtype, seed, offset

// Uniform and normal floats: a float64 uses 53 bits (two words; a normal pair uses two
// of those), everything else 24 bits or fewer, one word each.
inline int uniform_per_block(DType t) { return t == DType::Float64 ? 2 : 4; }
inline int normal_per_block(DType t) { return t == DType::Float64 ? 2 : 4; }
// One word per value when the range fits in 32 bits, else two.
inline int randint_per_block(int64_t low, int64_t high) {
  return static_cast<uint64_t>(high) - static_cast<uint64_t>(low) <= (uint64_t{1} << 32) ? 4 : 2;
}
inline int bernoulli_per_block(DType probs) { return probs == DType::Float64 ? 2 : 4; }
inline constexpr int kBernoulliScalarPerBlock = 4;
inline constexpr int kRandpermPerBlock = 2;  // one 64-bit draw per swap

// Fresh Philox counters for a recorded random op: `attrs` with "seed" and "offset" taken
// from `gen` for as many blocks as the op's output needs. The graph executor calls it on
// every run, so a compiled dropout draws new masks each call (the generator's state is an
// input of the graph, not a constant of the trace).
Attrs with_fresh_counters(const OpDef& op, const std::vector<InputMeta>& inputs, const Attrs& attrs,
                          Generator& gen);

// Mantissa bits of a uniform in [0, 1) for dtype `t`: few enough that the value can't
// round up to 1 when stored in that dtype.
inline int uniform_bits(DType t) {
  switch (t) {
    case DType::Float64: return 53;
    case DType::Float16: return 11;
    case DType::BFloat16: return 8;
    default: return 24;
  }
}

}  // namespace tessera::ops
