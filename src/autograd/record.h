#pragma once
// The autograd layer around dispatch: the dispatcher calls these after running an op.
#include <vector>

#include "ops/op.h"

namespace tessera::autograd {

// Whether recording is on and any input requires grad: the one check on the hot path.
bool should_record(const std::vector<Tensor>& inputs);
// Makes `outputs` part of the graph: one OpNode whose edges lead to the inputs' history.
void record(const ops::OpDef& op, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, const ops::Attrs& attrs);
// In-place ops with history: checks they are allowed, and returns a handle on self's
// current value (for the node to save) that keeps its old history.
Tensor prepare_inplace(const ops::OpDef& op, const Tensor& self);
// Gives `self` the history of `result`, whose values were just copied into it.
void rebase_history(const Tensor& self, const Tensor& result);

}  // namespace tessera::autograd
