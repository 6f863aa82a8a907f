#pragma once
// Runs a Graph: its nodes in order, each straight to the backend (below every dispatch
// layer: the graph already holds whatever autograd would have recorded). Values are
// released after their last use, so intermediates go back to the caching allocator as
// soon as nothing reads them. Random ops draw fresh counters from the calling thread's
// current generator on every run.
#include <vector>

#include "graph/ir.h"

namespace tessera::graph {

class Executor {
 public:
  explicit Executor(Graph graph);
  const Graph& graph() const { return graph_; }
  // Inputs must have the graph inputs' shapes and dtypes (the compile cache sees to it).
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

 private:
  Graph graph_;
  // release_after_[k]: the node-output values whose last reader is node k.
  std::vector<std::vector<int>> release_after_;
};

}  // namespace tessera::graph
