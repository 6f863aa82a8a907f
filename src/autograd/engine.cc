// The backward engine: counts how many gradients each node waits for, then runs nodes
// whose inputs are complete, latest-created first (a valid reverse topological order).
#include <atomic>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "autograd/record.h"
#include "tessera/autograd.h"
#include "tessera/ops.h"

namespace tessera::autograd {
namespace {

// The callbacks queued (queue_callback) during the backward running on this thread; null
// outside backward. A backward started from inside a hook has its own list.
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;

struct Capture {
  Node* node;
  int slot;
};

struct NodeState {
  int pending = 0;                 // gradients still to arrive
  std::vector<Tensor> grads;       // summed incoming gradients, one per output
};

// Runs the graph below `roots`. With `captures` (the functional grad()), the gradient
// arriving at each capture point is returned and no leaf's .grad() is touched.
std::vector<Tensor> run(const std::vector<Edge>& roots, const std::vector<Tensor>& root_grads,
                        bool keep_graph, bool create_graph, const std::vector<Capture>* captures) {
  std::unordered_map<Node*, NodeState> state;
  std::vector<std::shared_ptr<Node>> visited;
  // Dependencies: one per edge into a node, over the part of the graph reachable from roots.
  std::vector<Node*> stack;
  auto visit = [&](const std::shared_ptr<Node>& n) {
    auto [it, fresh] = state.try_emplace(n.get());
    if (fresh) {
      it->second.grads.resize(static_cast<size_t>(n->num_outputs));
      visited.push_back(n);
      stack.push_back(n.get());
    }
  };
  for (const Edge& e : roots) visit(e.node);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.valid()) continue;
      visit(e.node);
      ++state[e.node.get()].pending;
    }
  }
  // With captures, run only nodes from which a capture point can be reached.
  std::unordered_set<Node*> needed;
  if (captures != nullptr) {
    std::unordered_map<Node*, std::vector<Node*>> parents;
    for (const auto& n : visited)
      for (const Edge& e : n->next_edges)
        if (e.valid()) parents[e.node.get()].push_back(n.get());
    // A capture point itself runs only if it also leads to another capture point.
    std::vector<Node*> work;
    std::unordered_set<Node*> seen;
    for (const Capture& c : *captures)
      if (c.node != nullptr && seen.insert(c.node).second) work.push_back(c.node);
    while (!work.empty()) {
      Node* n = work.back();
      work.pop_back();
      for (Node* p : parents[n])
        if (needed.insert(p).second) work.push_back(p);
    }
  }

  auto add_grad = [](Tensor& slot, const Tensor& g) {
    if (!g.defined()) return;
    slot = slot.defined() ? add(slot, g) : g;
  };
  for (size_t i = 0; i < roots.size(); ++i)
    add_grad(state[roots[i].node.get()].grads[static_cast<size_t>(roots[i].input_nr)], root_grads[i]);

  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->sequence_nr < b->sequence_nr;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, decltype(later_first)>
      ready(later_first);
  std::unordered_set<Node*> queued;
  for (const Edge& e : roots)
    if (state[e.node.get()].pending == 0 && queued.insert(e.node.get()).second) ready.push(e.node);

  std::vector<Tensor> captured(captures ? captures->size() : 0);
  std::vector<std::function<void()>> callbacks;
  std::vector<std::function<void()>>* outer_callbacks = t_callbacks;
  t_callbacks = &callbacks;
  struct RestoreCallbacks {
    std::vector<std::function<void()>>* outer;
    ~RestoreCallbacks() { t_callbacks = outer; }
  } restore_callbacks{outer_callbacks};
  EnableGradGuard enable;  // the guard's scope restores the caller's mode
  set_grad_enabled(create_graph);
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    NodeState& st = state[node.get()];
    std::vector<Tensor> grads = std::move(st.grads);
    for (size_t i = 0; i < grads.size() && i < node->output_hooks.size(); ++i) {
      if (!grads[i].defined()) continue;
      for (const TensorHook& hook : node->output_hooks[i]) {
        Tensor replaced = hook(grads[i]);
        if (replaced.defined()) grads[i] = replaced;
      }
    }
    if (captures != nullptr) {
      for (size_t c = 0; c < captures->size(); ++c)
        if ((*captures)[c].node == node.get()) captured[c] = grads[static_cast<size_t>((*captures)[c].slot)];
      if (dynamic_cast<AccumulateGrad*>(node.get()) != nullptr) continue;  // grad() never accumulates
      if (!needed.count(node.get())) continue;
    }
    std::vector<Tensor> out = node->apply(grads);
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      NodeState& next = state[e.node.get()];
      if (i < out.size()) add_grad(next.grads[static_cast<size_t>(e.input_nr)], out[i]);
      if (--next.pending == 0 && queued.insert(e.node.get()).second) ready.push(e.node);
    }
  }
  if (!keep_graph)
    for (const auto& n : visited) n->release_saved();
  // Queued callbacks run in order; one may queue another, which runs after it.
  for (size_t i = 0; i < callbacks.size(); ++i) {
    std::function<void()> fn = std::move(callbacks[i]);
    fn();
  }
  return captured;
}

// Roots and their gradients: an implied 1 for one-element outputs.
void prepare_roots(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                   const char* who, std::vector<Edge>& roots, std::vector<Tensor>& grads) {
  TESSERA_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), who, ": got ",
                outputs.size(), " outputs but ", grad_outputs.size(), " gradients");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    TESSERA_CHECK(out.defined(), who, ": output ", i, " is undefined");
    TESSERA_CHECK(requires_grad(out), who, ": output ", i, " (", out.describe(),
                  ") does not require grad and has no grad_fn: nothing to differentiate");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      TESSERA_CHECK(out.numel() == 1, who, ": a gradient can be implied only for one-element "
                    "outputs; output ", i, " is ", out.describe(), ", pass its gradient");
      g = ones(out.sizes(), out.dtype());
    } else {
      TESSERA_CHECK(g.sizes().equals(out.sizes()), who, ": gradient ", i, " has shape ",
                    shape_str(g.sizes()), " but the output has shape ", shape_str(out.sizes()));
    }
    roots.push_back(edge_of(out));
    grads.push_back(g);
  }
}

}  // namespace

int64_t register_post_accumulate_grad_hook(const Tensor& leaf, PostAccumulateGradHook hook) {
  TESSERA_CHECK(leaf.defined(), "register_post_accumulate_grad_hook: the tensor is undefined");
  AutogradMeta* m = meta_of(leaf);
  TESSERA_CHECK(m != nullptr && m->requires_grad && m->grad_fn == nullptr,
                "register_post_accumulate_grad_hook: ", leaf.describe(),
                " must be a leaf that requires grad (only leaves accumulate a .grad())");
  TESSERA_CHECK(hook != nullptr, "register_post_accumulate_grad_hook: the hook is empty");
  static std::atomic<int64_t> next_id{0};
  int64_t id = next_id.fetch_add(1);
  m->post_accumulate_hooks.emplace_back(id, std::move(hook));
  return id;
}

void remove_post_accumulate_grad_hook(const Tensor& leaf, int64_t id) {
  AutogradMeta* m = leaf.defined() ? meta_of(leaf) : nullptr;
  if (m == nullptr) return;
  auto& hooks = m->post_accumulate_hooks;
  std::erase_if(hooks, [id](const auto& h) { return h.first == id; });
}

void queue_callback(std::function<void()> fn) {
  TESSERA_CHECK(t_callbacks != nullptr, "queue_callback: no backward is running on this "
                "thread; call it from a hook that backward runs");
  TESSERA_CHECK(fn != nullptr, "queue_callback: the callback is empty");
  t_callbacks->push_back(std::move(fn));
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph, bool create_graph) {
  std::vector<Edge> roots;
  std::vector<Tensor> grads;
  prepare_roots(outputs, grad_outputs, "backward", roots, grads);
  run(roots, grads, retain_graph || create_graph, create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  std::vector<Edge> roots;
  std::vector<Tensor> grads;
  prepare_roots(outputs, grad_outputs, "grad", roots, grads);
  std::vector<Capture> captures;
  std::vector<std::shared_ptr<Node>> keep_alive;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TESSERA_CHECK(requires_grad(inputs[i]), "grad: input ", i, " (", inputs[i].describe(),
                  ") does not require grad");
    Edge e = edge_of(inputs[i]);
    keep_alive.push_back(e.node);
    captures.push_back({e.node.get(), e.input_nr});
  }
  std::vector<Tensor> result = run(roots, grads, retain_graph || create_graph, create_graph, &captures);
  for (size_t i = 0; i < result.size(); ++i) {
    TESSERA_CHECK(result[i].defined() || allow_unused, "grad: input ", i, " (",
                  inputs[i].describe(), ") was not used to compute the outputs; pass "
                  "allow_unused=true to get an undefined gradient for it");
    if (result[i].defined() && !create_graph) result[i] = detached_alias(result[i]);
  }
  return result;
}

}  // namespace tessera::autograd

// ---------------------------------------------------------------- Tensor methods

namespace tessera {


bool Tensor::requires_grad() const { return autograd::requires_grad(*this); }

Tensor& Tensor::requires_grad_(bool on) {
  AutogradMeta* m = autograd::meta_of(*this);
  TESSERA_CHECK(m == nullptr || m->grad_fn == nullptr || on, "requires_grad_: ",
                describe(), " is not a leaf; use detach() to get one");
  TESSERA_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating tensors can "
                "require gradients, got ", describe());
  if (on) autograd::install_autograd_layer();
  autograd::ensure_meta(*this).requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const {
  const AutogradMeta* m = autograd::meta_of(*this);
  return m == nullptr || m->grad_fn == nullptr;
}

Tensor Tensor::grad() const {
  const AutogradMeta* m = autograd::meta_of(*this);
  return m ? m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  TESSERA_CHECK(!g.defined() || g.sizes().equals(sizes()), "set_grad: gradient ", g.describe(),
                " does not match the tensor ", describe());
  autograd::ensure_meta(*this).grad = g;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, gradient.defined() ? std::vector<Tensor>{gradient} : std::vector<Tensor>{},
                     retain_graph, create_graph);
}

void Tensor::retain_grad() const {
  AutogradMeta* m = autograd::meta_of(*this);
  TESSERA_CHECK(m != nullptr && m->requires_grad, "retain_grad: ", describe(),
                " does not require grad");
  if (m->grad_fn == nullptr) return;  // leaves keep their gradient anyway
  std::weak_ptr<TensorImpl> self = impl_ptr();
  m->grad_fn->output_hooks[static_cast<size_t>(m->output_nr)].push_back([self](const Tensor& g) {
    if (auto impl = self.lock()) {
      AutogradMeta& meta = autograd::ensure_meta(Tensor(impl));
      meta.grad = meta.grad.defined() ? add(meta.grad, g.detach()) : g.detach().clone();
    }
    return Tensor();
  });
}

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  AutogradMeta* m = autograd::meta_of(*this);
  TESSERA_CHECK(m != nullptr && m->requires_grad, "register_hook: ", describe(),
                " does not require grad, so no gradient will reach a hook");
  if (m->grad_fn == nullptr) {
    m->leaf_hooks.push_back(std::move(hook));
  } else {
    m->grad_fn->output_hooks[static_cast<size_t>(m->output_nr)].push_back(std::move(hook));
  }
}

std::string Tensor::grad_fn_name() const {
  const AutogradMeta* m = autograd::meta_of(*this);
  return m && m->grad_fn ? m->grad_fn->name() : "";
}

}  // namespace tessera
