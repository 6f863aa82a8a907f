#include "autograd/record.h"

#include "autograd/node.h"
#include "ops/op_writes.h"
#include "ops/copy.h"
#include "tessera/autograd.h"

namespace tessera::autograd {
namespace {
bool any_requires_grad(const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs)
    if (requires_grad(t)) return true;
  return false;
}
}  // namespace

void record(const ops::OpDef& op, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, const ops::Attrs& attrs) {
  if (!(op.flags & ops::kDifferentiable)) return;  // e.g. argmax: outputs carry no history
  auto node = std::make_shared<OpNode>(op, attrs);
  node->sequence_nr = next_sequence_nr();
  node->num_outputs = static_cast<int>(outputs.size());
  node->output_hooks.resize(outputs.size());
  node->next_edges.reserve(inputs.size());
  for (const Tensor& t : inputs) node->next_edges.push_back(edge_of(t));
  node->save(inputs, outputs);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!is_floating(outputs[i].dtype())) continue;  // indices, masks: not differentiable
    AutogradMeta& m = ensure_meta(outputs[i]);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = static_cast<int>(i);
    m.is_view = (op.flags & ops::kIsView) != 0;
  }
}

namespace {

// In-place writes to a tensor with history: checks they are allowed, and returns a handle
// on self's current value (for the node to save) that keeps its old history.
Tensor prepare_inplace(const ops::OpDef& op, const Tensor& self) {
  const AutogradMeta* m = meta_of(self);
  if (m != nullptr && m->requires_grad) {
    TESSERA_CHECK(m->grad_fn != nullptr, op.name,
                  ": a leaf tensor that requires grad is used in an in-place operation; "
                  "update it under NoGradGuard (as optimizers do) or work on a clone");
    TESSERA_CHECK(!m->is_view, op.name,
                  ": in-place operation on a view of a tensor with autograd history is not "
                  "supported; apply it to a clone, or to the base tensor");
  }
  // A separate handle on the current value: the node saves this one, and self's history
  // can then move on without creating a cycle.
  Tensor before = detached_alias(self);
  if (m != nullptr) before.impl()->autograd = std::make_shared<AutogradMeta>(*m);
  if (m != nullptr) before.impl()->autograd->grad = Tensor();
  return before;
}

class AutogradLayer final : public ops::DispatchLayer {
 public:
  bool wants(const ops::OpCall& c) const override {
    if (!is_grad_enabled()) return false;  // grad mode lives in core (grad_mode.cc)
    if (c.out.defined() && requires_grad(c.out)) return true;
    return any_requires_grad(c.inputs);  // covers the tensors a mutating op writes
  }

  std::vector<Tensor> handle(ops::OpCall& c, const Below& below) override {
    if (c.out.defined()) return inplace_form(c, below);
    if (c.op.mutates != 0) return mutating(c, below);
    // A composite (layer_norm...) whose backend has a fused kernel: the kernel has no
    // backward rule, so a call that needs gradients runs the decomposition instead, whose
    // ops record their own (and a traced training step records them too).
    if (c.op.decompose != nullptr && !(c.op.flags & ops::kDifferentiable))
      return ops::call_decomposition(c.op, c.inputs, c.attrs);
    const std::vector<Tensor> inputs = c.inputs;  // the backend may consume c.inputs
    std::vector<Tensor> outputs = below(c);
    record(c.op, inputs, outputs, c.attrs);
    return outputs;
  }

 private:
  // x.add_(y) with history: the op is recorded out of place on x's old value, then
  // copy_ (itself recorded) writes the result into x, which takes over the copy's history.
  std::vector<Tensor> inplace_form(ops::OpCall& c, const Below& below) {
    const Tensor self = c.out;
    const Tensor before = prepare_inplace(c.op, self);
    for (Tensor& t : c.inputs)
      if (t.is_same(self)) t = before;
    const std::vector<Tensor> inputs = c.inputs;
    ops::OpCall out_of_place{c.op, c.inputs, c.attrs, Tensor()};
    std::vector<Tensor> r = below(out_of_place);
    record(c.op, inputs, r, c.attrs);
    ops::check_inplace_result(c.op, inputs, r[0], self);
    ops::call(ops::kCopy, {self, r[0]});
    return {self};
  }

  // copy_, fill_, the optimizers' updates: the written inputs are replaced by handles on
  // their old values (the node's edges keep the old history), the kernel writes through
  // them into the same storage, and the written tensors take the new node's history.
  std::vector<Tensor> mutating(ops::OpCall& c, const Below& below) {
    std::vector<Tensor> written;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (!ops::writes_input(c.op, i)) continue;
      written.push_back(c.inputs[i]);
      c.inputs[i] = prepare_inplace(c.op, c.inputs[i]);
    }
    const std::vector<Tensor> inputs = c.inputs;
    below(c);
    record(c.op, inputs, written, c.attrs);
    return written;
  }
};

}  // namespace

void install_autograd_layer() {
  // Leaked on purpose: ops may run during static destruction.
  static ops::DispatchLayer* layer = [] {
    auto* l = new AutogradLayer();
    ops::install_layer(ops::LayerSlot::Autograd, l);
    return l;
  }();
  (void)layer;
}

}  // namespace tessera::autograd
