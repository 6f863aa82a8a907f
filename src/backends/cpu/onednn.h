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

#include <functional>
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

// A tensor's layout `from` to the layout a primitive reads or writes, `to`: a plain
// convolution weight in the kernel's blocks, a Winograd transform, a matmul's packed
// panels, an activation rounded to bfloat16.
struct Reorder {
  dnnl::memory::desc from, to;
  dnnl::reorder reorder;
  dnnl::memory::desc scratchpad;
  Reorder(const dnnl::memory::desc& from_, const dnnl::memory::desc& to_);
};
// Runs `r` from `from` (memory of layout r.from) into `to` (r.to), with a scratchpad of
// its own if it needs one.
void run_reorder(const Reorder& r, void* from, void* to);

// A weight tensor as a primitive reads it. Frozen graphs run the same constant weights
// every call, so the result is kept per (weight storage, offset, `r`: the cached primitive
// it is for) while the storage lives and holds the version it was made from; a write makes
// it stale, a freed storage drops it. Thread-safe.
Tensor prepared_weights(const Reorder& r, const Tensor& w);
// The same cache for any transform of a weight: `fill` writes `bytes` bytes made from w,
// kept per (w's storage, offset, `key`: the cached plan it is for) as above.
Tensor prepared_weights(const void* key, const Tensor& w, size_t bytes, const std::function<void(void* out)>& fill);

// An activation as a primitive reads it: a new buffer per call, except that a training
// step reads a convolution's input in the forward pass and again for the weight gradient,
// and its output gradient in both backward passes. Without reuse each read reorders the
// tensor again (issue 9's "once per step, not once per gradient").
//   - kNone: reorder, keep nothing (inference).
//   - kRemember: reorder, and keep the copy for later kReuse calls (forward passes); with
//     gradients disabled (inference, evaluation under NoGradGuard) no backward pass
//     follows, so it keeps nothing: a kept copy would only hold memory (CNN28's second
//     layer's input is 86 MB at batch 1000).
//   - kReuse: a kept copy of the same tensor in the same two layouts if there is one, else
//     as kRemember (backward passes). So what a backward pass reuses is what the forward
//     pass saw, as with the tensors autograd saves.
// A kept copy is matched by the tensor's storage (held weakly: a freed tensor's copy is
// dead), its version (an in-place write, an optimizer step, the graph executor rewriting
// a buffer: the copy is stale), its data pointer and both layouts. Per thread (no lock), a
// few copies, newest first.
enum class Reuse { kNone, kRemember, kReuse };
Tensor reordered(const Reorder& r, const Tensor& t, Reuse reuse = Reuse::kNone);
// How many kReuse calls found a kept copy, process-wide (tests).
int64_t reorders_reused();

}  // namespace tessera::cpu::onednn
