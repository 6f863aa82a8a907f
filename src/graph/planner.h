#pragma once
// The static memory planner: every intermediate of a graph gets an offset in one arena,
// chosen from liveness so that buffers alive at the same time never overlap and buffers
// alive at different times share memory.
//
// A buffer is what a node allocates: views (and as_strided aliases) share their input's
// buffer, and a write (copy_, x.add_(y), an optimizer's update) writes into the buffer of
// the value it writes, so a buffer lives from the node that makes it to the last read of
// any value over it. Graph inputs, captured tensors and constants are not the planner's;
// neither is a buffer a graph output reads (it outlives the call).
//
// In-place reuse: an elementwise node's output takes over the buffer of an input of the
// same shape and dtype whose last read is that node (relu(add(x, y)) runs in one buffer),
// as PyTorch's in-place ops do by hand; the elementwise kernels read element i before
// they write it, so out == in is safe. Views of the input must be dead too (the buffer's
// last read is the node).
//
// Placement: largest first, each at the lowest offset that overlaps no placed buffer whose
// lifetime intersects its own (the greedy-by-size heuristic of TFLite's and ONNX Runtime's
// planners), offsets aligned to 64 bytes.
#include <cstdint>
#include <vector>

#include "graph/ir.h"

namespace tessera::graph {

struct MemoryPlan {
  static constexpr int64_t kAlignment = 64;
  // Per value: its buffer's id, or -1 for a value the plan does not cover.
  std::vector<int> buffer_of;
  struct Buffer {
    int64_t bytes = 0;   // rounded up to kAlignment
    int first = 0;       // node that makes it
    int last = 0;        // last node that reads it (or a value over it)
    int64_t offset = 0;  // in the arena
  };
  std::vector<Buffer> buffers;
  int64_t arena_bytes = 0;         // the arena: the end of the furthest placed buffer
  int64_t intermediate_bytes = 0;  // sum of all intermediates (what one allocation each costs)
  int64_t peak_live_bytes = 0;     // most bytes alive at once: no plan can do better
  int reused_in_place = 0;         // outputs written over a dying input's buffer
};

MemoryPlan plan_memory(const Graph& g);
// Checks a plan: no two buffers alive at once overlap, each fits the arena. Throws
// InternalError naming the pair.
void verify_plan(const MemoryPlan& plan);

}  // namespace tessera::graph
