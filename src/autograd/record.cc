#include "autograd/record.h"

#include "autograd/node.h"
#include "tessera/autograd.h"

namespace tessera::autograd {
namespace {
thread_local bool grad_enabled = true;
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(grad_enabled) { grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { grad_enabled = previous_; }

bool should_record(const std::vector<Tensor>& inputs) {
  if (!grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (requires_grad(t)) return true;
  return false;
}

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

Tensor prepare_inplace(const ops::OpDef& op, const Tensor& self) {
  const AutogradMeta* m = meta_of(self);
  if (m != nullptr && m->requires_grad) {
    TESSERA_CHECK(m->grad_fn != nullptr, op.name,
                  "_: a leaf tensor that requires grad is used in an in-place operation; "
                  "update it under NoGradGuard (as optimizers do) or work on a clone");
    TESSERA_CHECK(!m->is_view, op.name,
                  "_: in-place operation on a view of a tensor with autograd history is not "
                  "supported; apply it to a clone, or to the base tensor");
  }
  // A separate handle on the current value: the node saves this one, and self's history
  // can then move on without creating a cycle.
  Tensor before = detached_alias(self);
  if (m != nullptr) before.impl()->autograd = std::make_shared<AutogradMeta>(*m);
  if (m != nullptr) before.impl()->autograd->grad = Tensor();
  return before;
}

void rebase_history(const Tensor& self, const Tensor& result) {
  const AutogradMeta* r = meta_of(result);
  if (r == nullptr || !r->requires_grad) return;
  AutogradMeta& m = ensure_meta(self);
  m.requires_grad = true;
  m.grad_fn = r->grad_fn;
  m.output_nr = r->output_nr;
}

}  // namespace tessera::autograd
