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

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/parallel_internal.h"
#include "tessera/parallel.h"
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

// The cache every oneDNN kernel keeps its primitives in: creating a primitive costs far
// more than running a small one, and a loop repeats the same shapes. `key` is the call's
// geometry; the thread count is added to it (oneDNN fixes a primitive's split over threads,
// and so the order its sums run in, when it builds it: after set_num_threads a primitive
// computes exactly what a fresh process with that count would), after the OpenMP team is
// synced to it. `build()` runs outside the lock (it takes a while); a racing thread's
// duplicate is dropped. One cache per T, process-wide; entries are immutable once built.
template <typename T, typename Build>
std::shared_ptr<const T> cached_primitive(std::vector<int64_t> key, Build&& build) {
  detail::sync_openmp_threads();
  key.push_back(get_num_threads());
  static std::mutex mu;
  static std::map<std::vector<int64_t>, std::shared_ptr<const T>> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  std::shared_ptr<const T> made = build();
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(std::move(key), std::move(made)).first->second;
}

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
// The same reorder run every call, uncached (activations: a new tensor each time).
Tensor reordered(const WeightReorder& r, const Tensor& t);

}  // namespace tessera::cpu::onednn
