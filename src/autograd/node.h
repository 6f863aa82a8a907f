#pragma once
// The recorded graph: a Node per differentiable op call, with edges to the nodes that
// produced its inputs (or to a leaf's gradient accumulator). No per-op code lives here:
// an OpNode runs the backward rule of its OpDef.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "tessera/tensor.h"

namespace tessera::autograd {

class Node;
using TensorHook = std::function<Tensor(const Tensor&)>;

// Where a gradient goes: incoming slot `input_nr` of `node`.
struct Edge {
  std::shared_ptr<Node> node;
  int input_nr = 0;
  bool valid() const { return node != nullptr; }
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;
  // Gradients for next_edges, given the gradients of this node's outputs.
  virtual std::vector<Tensor> apply(std::vector<Tensor>& grad_outputs) = 0;
  virtual std::string name() const = 0;
  virtual void release_saved() {}

  std::vector<Edge> next_edges;  // one per forward input
  int num_outputs = 1;
  uint64_t sequence_nr = 0;      // creation order; the engine runs later nodes first
  // Hooks on the non-leaf tensors this node produced, by output index.
  std::vector<std::vector<TensorHook>> output_hooks;
};

}  // namespace tessera::autograd

namespace tessera {
// Per-tensor autograd state, hung off TensorImpl::autograd.
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  int output_nr = 0;
  bool is_view = false;  // made by a view op from a tensor with history
  std::weak_ptr<autograd::Node> accumulator;  // leaves: the AccumulateGrad node edges point to
  std::vector<autograd::TensorHook> leaf_hooks;
  // Run after backward() accumulated into grad (see autograd.h), with their ids.
  std::vector<std::pair<int64_t, std::function<void(const Tensor&)>>> post_accumulate_hooks;
};

}  // namespace tessera

namespace tessera::autograd {

// The op-table node. Saved values carry the storage version seen at save time, checked
// only when the backward rule actually reads them.
class OpNode : public Node, public ops::BackwardCall {
 public:
  OpNode(const ops::OpDef& op, const ops::Attrs& attrs) : op_(op), attrs_(attrs) {}
  void save(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);
  std::vector<Tensor> apply(std::vector<Tensor>& grad_outputs) override;
  std::string name() const override { return std::string(op_.name) + "_backward"; }
  void release_saved() override;

  // ops::BackwardCall
  const ops::OpDef& op() const override { return op_; }
  const ops::Attrs& attrs() const override { return attrs_; }
  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor& input(size_t i) const override;
  const Tensor& output(size_t i) const override;
  const Tensor& grad(size_t i) const override;
  bool needs(size_t i) const override { return i < next_edges.size() && next_edges[i].valid(); }
  IntArrayRef input_sizes(size_t i) const override { return input_sizes_[i]; }
  DType input_dtype(size_t i) const override { return input_dtypes_[i]; }

 private:
  struct Saved {
    Tensor data;
    uint64_t version = 0;
  };
  void check_version(const Saved& s, const char* what, size_t i) const;

  const ops::OpDef& op_;
  ops::Attrs attrs_;
  std::vector<Saved> inputs_;
  std::vector<Saved> outputs_;  // detached aliases: no cycle through the node
  std::vector<Shape> input_sizes_;
  std::vector<DType> input_dtypes_;
  mutable std::vector<Tensor> unpacked_outputs_;
  std::vector<Tensor>* grads_ = nullptr;  // valid during apply()
  bool released_ = false;
};

// Adds incoming gradients into a leaf's .grad().
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf) : leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& grad_outputs) override;
  std::string name() const override { return "AccumulateGrad"; }
  const Tensor& leaf() const { return leaf_; }

 private:
  void run_post_accumulate_hooks(AutogradMeta& m);
  Tensor leaf_;
};

// ---- used by the dispatcher and the Tensor methods ----
AutogradMeta* meta_of(const Tensor& t);            // null when the tensor has none
AutogradMeta& ensure_meta(const Tensor& t);
bool requires_grad(const Tensor& t);
// The edge a gradient for `t` flows along: its grad_fn, or its leaf accumulator.
Edge edge_of(const Tensor& t);
// A new handle on the same storage and layout with no autograd history.
Tensor detached_alias(const Tensor& t);
uint64_t next_sequence_nr();

}  // namespace tessera::autograd
