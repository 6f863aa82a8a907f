#pragma once
// What every oneDNN primitive Tessera runs shares, and the rules that make a primitive
// built once and cached process-wide safe to run on any number of threads at once
// (docs/threading.md):
//   - Primitives are built with attr(): a user-managed scratchpad. Each execution then
//     gets a scratchpad of its own from Tessera's caching allocator (add_scratchpad).
//     With oneDNN's default, library-managed scratchpad, the temporaries belong to the
//     primitive, so two threads executing one cached primitive shared them: convolution
//     backward-weights keeps its per-thread partial sums and the barrier of its reduction
//     there, which gave wrong weights and hangs (issue 8).
//   - Call detail::sync_openmp_threads() (core/parallel_internal.h) before building or
//     running a primitive: oneDNN sizes its work from OpenMP's per-thread count.
#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>
#include <vector>

#include "tessera/tensor.h"

namespace tessera::cpu::onednn {

dnnl::engine& engine();
// The calling thread's stream (a stream is not meant to be shared between threads).
dnnl::stream& stream();
// The attributes every primitive is built with (user-managed scratchpad).
dnnl::primitive_attr attr();

// Allocates a scratchpad of `desc` (a primitive descriptor's scratchpad_desc()) and adds
// it to `args` as DNNL_ARG_SCRATCHPAD; nothing for an empty one. Returns the tensor that
// owns the memory: keep it until the execution has finished (stream().wait()).
Tensor add_scratchpad(const dnnl::memory::desc& desc, std::unordered_map<int, dnnl::memory>& args);

// A weight tensor as a primitive reads it, when it reads another layout (`to`, reached
// from the tensor's own layout `from` by `reorder`): a plain convolution weight in the
// kernel's blocks, a Winograd transform, a matmul's packed panels. Frozen graphs run the
// same constant weights every call, so the result is kept per (weight storage, offset,
// `owner`: the cached primitive it is for) while the storage lives and holds the version
// it was made from; a write makes it stale, a freed storage drops it. Thread-safe.
struct WeightReorder {
  dnnl::memory::desc from, to;
  dnnl::reorder reorder;
  dnnl::memory::desc scratchpad;
  WeightReorder(const dnnl::memory::desc& from_, const dnnl::memory::desc& to_);
};
Tensor prepared_weights(const WeightReorder& r, const Tensor& w);

}  // namespace tessera::cpu::onednn
