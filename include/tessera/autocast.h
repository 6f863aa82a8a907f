#pragma once
// Mixed precision on the CPU (docs/autocast.md), like torch.autocast("cpu", torch.bfloat16):
//
//   {
//     tessera::AutocastGuard autocast(tessera::kBFloat16);
//     Tensor loss = F::cross_entropy(model(x), y);   // convolutions and matrix products in bf16
//     loss.backward();                                // their gradients too
//   }
//   optimizer.step();                                 // float32 master weights
//
// In its scope, on this thread, the convolutions (conv2d, its two gradient ops, and the
// blocked convolutions of frozen graphs) and the matrix products (linear, matmul, mm, bmm,
// addmm, their gradient products, and the fused linear layers of frozen graphs) read their
// float32 operands rounded to bfloat16 and accumulate and write in float32 (oneDNN's bf16
// kernels: AVX512-BF16 or AMX). dot and outer stay float32. Every other op, and every
// tensor, stays float32: batch norm, softmax, losses, reductions and
// the optimizer run at full precision, the weights are never rounded, and outputs need no
// casts back. The choice is recorded on the op (attribute precision="bf16"), so gradients
// computed after the scope has closed still run in bf16, and a graph traced by
// tessera::compile inside the scope keeps it (a compiled function caches its graphs with
// and without autocast apart).
//
// Where the CPU has no bfloat16 instructions (bf16_supported() false), the guard changes
// nothing: everything runs in float32, the same results as without it.
#include "tessera/dtype.h"
#include "tessera/export.h"

namespace tessera {

// Whether this CPU computes in bfloat16 natively (oneDNN's ISA has AVX512-BF16 or AMX).
TESSERA_API bool bf16_supported();

class TESSERA_API AutocastGuard {
 public:
  // dtype must be kBFloat16 (an InvalidArgumentError otherwise: there are no float16
  // kernels on the CPU). enabled=false turns autocast off in the scope (a float32 island
  // inside an autocast region).
  explicit AutocastGuard(DType dtype = kBFloat16, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool previous_;
};

// Whether a guard asked for autocast on this thread (whatever the CPU supports).
TESSERA_API bool is_autocast_enabled();
// Sets it without a guard (bindings whose scopes are not C++ blocks: Python's `with`).
TESSERA_API void set_autocast_enabled(bool enabled);
// Whether ops called now on this thread run their multiplications in bfloat16: autocast
// asked for and bf16_supported().
TESSERA_API bool autocast_bf16_active();

namespace detail {
// Tests: pretend the CPU lacks (true) or has again (false) bfloat16 instructions.
TESSERA_API void set_bf16_disabled_for_testing(bool disabled);
}  // namespace detail

}  // namespace tessera
