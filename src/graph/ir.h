#pragma once
// The graph IR of compiled mode: typed SSA values and the op calls between them, recorded
// by the tracer (tracer.h), rewritten by passes (passes/), run by the executor.
//
// A value is defined once: by a graph input, a captured tensor (a parameter or any tensor
// the traced code used but did not compute: held by reference, so an optimizer's writes
// show), a constant (made by constant folding: owned by the graph), or a node's output.
// Nodes are OpDef calls with the attributes the dispatcher checked; their order is the
// order the traced code ran them in, and it is kept: writes (copy_, an optimizer's update,
// x.add_(y)) act on the tensors bound to values at run time, views alias what they view,
// so a pass may drop or merge nodes but never move one across a write.
#include <string>
#include <vector>

#include "ops/op.h"

namespace tessera::graph {

enum class ValueKind : uint8_t { Input, Captured, Constant, Node };

struct Value {
  ValueKind kind = ValueKind::Node;
  ops::TensorMeta meta;      // sizes and dtype
  bool wrapped = false;      // a wrapped scalar (type promotion reads the mark)
  int node = -1;             // Node: the defining node
  int index = 0;             // Node: which output; Input: which graph input
  Tensor tensor;             // Captured / Constant: the tensor itself
};

struct Node {
  const ops::OpDef* op = nullptr;
  ops::Attrs attrs;          // complete (defaults filled in), as the dispatcher checked them
  std::vector<int> inputs;   // value ids
  std::vector<int> outputs;  // value ids
  int into = -1;             // the in-place form (x.add_(y)): the value written, else -1
  std::string where;         // where the user's code called it ("" when unknown)

  bool writes() const { return into >= 0 || op->mutates != 0; }
  bool is_random() const { return (op->flags & ops::kRandom) != 0; }
  // Talks to other processes (ops/collective.h): every rank must run it, in the same order.
  bool is_collective() const { return (op->flags & ops::kCollective) != 0; }
  // Its output is memory of its first input: a view, or as_strided (which addresses the
  // input's storage).
  bool aliases_input() const;
};

// A composite op call (linear, batch_norm...) that the tracer recorded as the nodes of its
// decomposition: nodes [first_node, end_node) compute `outputs` from `inputs`. Kept so
// ONNX export can write the call as the one operator ONNX has for it (Gemm,
// BatchNormalization) instead of its pieces; nothing else reads it.
struct CompositeCall {
  const ops::OpDef* op = nullptr;
  ops::Attrs attrs;
  std::vector<int> inputs;   // value ids
  std::vector<int> outputs;  // value ids (node outputs inside the span)
  int first_node = 0;
  int end_node = 0;
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;   // value ids, in call order
  std::vector<int> outputs;  // value ids, in return order
  // As traced only: the composite calls, in the order they returned (inner before outer).
  // Node indices: a pass that rewrites nodes must clear it (compile clears it before the
  // passes; the graph it keeps as traced has it).
  std::vector<CompositeCall> composites;

  int add_value(Value v);
  // Appends a node and its output values (metas from the op's shape rule unless given).
  int add_node(Node n, const std::vector<ops::TensorMeta>& output_metas);

  // Checks the invariants every pass must keep: each value defined once and before its
  // uses, ids in range, metas equal to what the ops' shape rules give, attributes
  // complete and well typed. Throws InternalError naming the node (a pass's bug).
  void verify() const;
  // A readable listing, one node per line:
  //   %7 = conv2d(%0, %w1, %b1) {stride=[1, 1], ...} : [1, 32, 28, 28] f32  # model.cc:42
  std::string dump() const;
  // Number of nodes per op name, e.g. "conv2d: 2, relu: 3" (docs and tests).
  std::string op_histogram() const;
  bool has_writes() const;
};

// "%7" or, for an input, "%in0"; captured tensors "%c3", constants "%k5".
std::string value_name(const Graph& g, int id);
std::string attr_string(const ops::Attrs& attrs);
// What a shape rule sees of value `id`.
ops::InputMeta input_meta(const Graph& g, int id);

}  // namespace tessera::graph
