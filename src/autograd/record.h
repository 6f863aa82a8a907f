#pragma once
// The autograd layer of the dispatcher: records a node for every differentiable op call
// whose inputs require grad, and handles in-place writes to tensors with history.
#include <vector>

#include "ops/op.h"

namespace tessera::autograd {

// Installs the layer (idempotent, thread-safe). Called the first time a tensor is marked
// requires_grad: no tensor can need a gradient before that, so until then every op call
// skips autograd entirely.
void install_autograd_layer();

// Makes `outputs` part of the graph: one OpNode whose edges lead to the inputs' history.
void record(const ops::OpDef& op, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, const ops::Attrs& attrs);

}  // namespace tessera::autograd
