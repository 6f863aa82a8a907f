#pragma once
// Runs a Graph: its nodes in order, each straight to the backend (below every dispatch
// layer: the graph already holds whatever autograd would have recorded).
//
// Prepared once, when the executor is made: each node's kernel and output metas
// (ops::prepare_kernel) and the memory plan (planner.h). A call then takes a frame (the
// arena, one tensor per planned value over it, the argument vectors) from a pool, runs the
// kernels into the arena and gives the frame back: after the first call on a thread,
// intermediates cost no allocation, no shape inference and no dispatch (views of them are
// made with the frame too). Graph outputs are
// fresh tensors (they outlive the call). Nodes the fast path does not cover (views
// of inputs, writes, random ops, dtype conversions, composites without a kernel) go through
// ops::call_backend and their results are released after their last use. Random ops draw
// fresh counters from the calling thread's current generator on every run. Calls from
// several threads at once each get their own frame.
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "graph/ir.h"
#include "graph/planner.h"

namespace tessera::graph {

class Executor {
 public:
  explicit Executor(Graph graph);
  ~Executor();
  const Graph& graph() const { return graph_; }
  const MemoryPlan& memory_plan() const { return plan_; }
  // Nodes on the fast path: prepared kernels into the arena and views made with the frame
  // (the rest go through call_backend).
  int fast_path_nodes() const;
  // Inputs must have the graph inputs' shapes and dtypes (the compile cache sees to it).
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

 private:
  struct Frame;
  std::unique_ptr<Frame> make_frame() const;

  Graph graph_;
  MemoryPlan plan_;
  std::vector<std::optional<ops::PreparedKernel>> prepared_;  // per node
  // Per node: a view of a value in the frame, made once with the frame (same memory on
  // every call), so the call only looks it up.
  std::vector<bool> frame_view_;
  // release_after_[k]: the node-output values whose last reader is node k.
  std::vector<std::vector<int>> release_after_;
  mutable std::mutex frames_mutex_;
  mutable std::vector<std::unique_ptr<Frame>> free_frames_;
};

}  // namespace tessera::graph
