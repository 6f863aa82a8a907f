#include "autograd/node.h"

#include <atomic>

#include "autograd/record.h"
#include "tessera/autograd.h"
#include "tessera/ops.h"
#include "tessera/traced.h"

namespace tessera::autograd {

// ---------------------------------------------------------------- tensor state

AutogradMeta* meta_of(const Tensor& t) {
  return t.defined() ? t.impl()->autograd.get() : nullptr;
}

AutogradMeta& ensure_meta(const Tensor& t) {
  auto& slot = t.impl()->autograd;
  if (!slot) slot = std::make_shared<AutogradMeta>();
  return *slot;
}

bool requires_grad(const Tensor& t) {
  const AutogradMeta* m = meta_of(t);
  return m != nullptr && m->requires_grad;
}

Edge edge_of(const Tensor& t) {
  AutogradMeta* m = meta_of(t);
  if (m == nullptr || !m->requires_grad) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  std::shared_ptr<Node> acc = m->accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    acc->sequence_nr = next_sequence_nr();
    acc->output_hooks.resize(1);
    m->accumulator = acc;
  }
  return {acc, 0};
}

Tensor detached_alias(const Tensor& t) { return t.detach(); }

uint64_t next_sequence_nr() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- OpNode

void OpNode::save(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  inputs_.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    inputs_.push_back({t, t.storage()->version()});
    input_sizes_.emplace_back(t.sizes());
    input_dtypes_.push_back(t.dtype());
  }
  // Outputs are saved without their history: the output's meta points at this node, so
  // saving the output itself would be a reference cycle.
  for (const Tensor& t : outputs) outputs_.push_back({detached_alias(t), t.storage()->version()});
  unpacked_outputs_.resize(outputs.size());
}

void OpNode::check_version(const Saved& s, const char* what, size_t i) const {
  TESSERA_CHECK(!released_, op_.name,
                "_backward: trying to backward through the graph a second time (its saved "
                "values were freed); pass retain_graph=true to the first backward");
  const uint64_t now = s.data.storage()->version();
  TESSERA_CHECK(now == s.version, op_.name, "_backward: ", what, " ", i, " (", s.data.describe(),
                ") needed for the gradient was modified by an in-place operation (version ",
                s.version, " when saved, ", now, " now)");
}

const Tensor& OpNode::input(size_t i) const {
  TESSERA_INTERNAL_ASSERT(i < inputs_.size(), op_.name, ": input ", i, " out of range");
  check_version(inputs_[i], "input", i);
  return inputs_[i].data;
}

const Tensor& OpNode::output(size_t i) const {
  TESSERA_INTERNAL_ASSERT(i < outputs_.size(), op_.name, ": output ", i, " out of range");
  check_version(outputs_[i], "output", i);
  Tensor& out = unpacked_outputs_[i];
  if (!out.defined()) {
    out = outputs_[i].data;
    // With create_graph the rule's use of the output must itself be differentiable:
    // give the output back its history (this node), as a fresh handle.
    if (is_grad_enabled() && is_floating(out.dtype())) {
      out = detached_alias(out);
      AutogradMeta& m = ensure_meta(out);
      m.requires_grad = true;
      m.grad_fn = std::const_pointer_cast<Node>(shared_from_this());
      m.output_nr = static_cast<int>(i);
    }
  }
  return out;
}

const Tensor& OpNode::grad(size_t i) const {
  TESSERA_INTERNAL_ASSERT(grads_ != nullptr && i < grads_->size(), op_.name, ": grad ", i);
  return (*grads_)[i];
}

std::vector<Tensor> OpNode::apply(std::vector<Tensor>& grad_outputs) {
  TESSERA_CHECK(!released_, op_.name,
                "_backward: trying to backward through the graph a second time (its saved "
                "values were freed); pass retain_graph=true to the first backward");
  TESSERA_CHECK_IMPLEMENTED(op_.backward != nullptr, op_.name, ": backward is not implemented");
  // A gradient that never arrived is zero; rules can rely on every float grad existing.
  for (size_t i = 0; i < grad_outputs.size(); ++i) {
    const Tensor& out = outputs_[i].data;
    if (!grad_outputs[i].defined() && is_floating(out.dtype()))
      grad_outputs[i] = zeros(out.sizes(), out.dtype());
  }
  grads_ = &grad_outputs;
  std::vector<Tensor> grads = op_.backward(*this);
  grads_ = nullptr;
  for (Tensor& t : unpacked_outputs_) t = Tensor();
  TESSERA_INTERNAL_ASSERT(grads.size() == inputs_.size(), op_.name, "_backward returned ",
                          grads.size(), " gradients for ", inputs_.size(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!needs(i) || !grads[i].defined()) {
      grads[i] = Tensor();
      continue;
    }
    TESSERA_INTERNAL_ASSERT(grads[i].sizes().equals(input_sizes_[i]), op_.name,
                            "_backward: gradient ", i, " has shape ", shape_str(grads[i].sizes()),
                            ", the input ", shape_str(input_sizes_[i]));
    if (grads[i].dtype() != input_dtypes_[i]) grads[i] = grads[i].to(input_dtypes_[i]);
  }
  return grads;
}

void OpNode::release_saved() {
  released_ = true;
  inputs_.clear();
  outputs_.clear();
  unpacked_outputs_.clear();
}

// ---------------------------------------------------------------- AccumulateGrad

namespace {

// Whether the incoming gradient can become .grad as it is, without a copy (PyTorch's
// AccumulateGrad steals it the same way): `g` holds the only reference to it, its storage
// backs no other tensor, and it covers that storage exactly. Otherwise (add's backward
// hands one tensor to both inputs, a hook or retain_grad kept it, a view into a larger
// buffer, memory owned outside) it is copied, since a leaf's .grad() must be its own. A
// trace copies too: the graph's own passes decide what a step's gradients cost.
bool stealable(const Tensor& g) {
  const std::shared_ptr<TensorImpl>& impl = g.impl_ptr();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && g.is_contiguous() && g.storage_offset() == 0 &&
         impl->storage->nbytes() == g.nbytes() && impl->autograd == nullptr && detail::trace_observer() == nullptr;
}

}  // namespace

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>& grad_outputs) {
  Tensor g = std::move(grad_outputs[0]);  // the engine is done with it: g may be its only holder
  if (!g.defined()) return {};
  AutogradMeta& m = ensure_meta(leaf_);
  for (const TensorHook& hook : m.leaf_hooks) {
    Tensor replaced = hook(g);
    if (replaced.defined()) g = replaced;
  }
  if (g.dtype() != leaf_.dtype()) g = g.to(leaf_.dtype());
  if (is_grad_enabled()) {  // create_graph: the gradient keeps its history
    m.grad = m.grad.defined() ? add(m.grad, g) : g;
    run_post_accumulate_hooks(m);
    return {};
  }
  NoGradGuard no_grad;
  if (m.grad.defined()) {
    m.grad = add(m.grad, g);  // out of place: a user may hold the old .grad()
  } else {
    m.grad = stealable(g) ? std::move(g) : detached_alias(g).clone();
  }
  run_post_accumulate_hooks(m);
  return {};
}

void AccumulateGrad::run_post_accumulate_hooks(AutogradMeta& m) {
  if (m.post_accumulate_hooks.empty()) return;
  // A copy: a hook may register or remove hooks.
  auto hooks = m.post_accumulate_hooks;
  for (const auto& [id, hook] : hooks) hook(leaf_);
}

}  // namespace tessera::autograd
