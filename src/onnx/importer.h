#pragma once
// The ONNX importer's inside: what a per-op import function sees of a node (NodeContext),
// and the operator table (op_table.cc) that maps each ONNX operator to its import function
// and its export function (exporter.h, export_ops.cc).
//
// Import functions run when the model runs, on the node's actual input tensors, through
// Tessera's public ops: eagerly they compute, under tessera::compile the tracer records
// them. Inputs whose values must be known to build the call (Reshape's shape, Slice's
// starts, Clip's bounds...) are read with NodeContext::ints(); they are "static" when they
// come from initializers, Constant nodes or Shape, and the model folds such values once per
// traced graph (model.cc), so a compiled graph gets them as constants.
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "onnx/proto/onnx_subset.pb.h"
#include "tessera/tensor.h"

namespace tessera::onnx::detail {

// ONNX element type (TensorProto.DataType) to Tessera's; throws NotImplementedError naming
// `what` for types Tessera has no dtype for (strings, uint16/32/64, int16, complex).
DType dtype_from_onnx(int32_t onnx_type, const std::string& what);
const char* onnx_type_name(int32_t onnx_type);

struct TensorLimits {
  int64_t max_bytes = int64_t{4} << 30;
  std::string base_dir;  // external data is read from files under it ("" refuses it)
  int64_t max_loop_iterations = INT64_MAX;  // ImportOptions::max_loop_iterations
};

// A value while a graph runs: the tensor, and whether it is static (an initializer, a
// Constant or computed from static values only), which under tessera::compile means it is
// a constant of the traced graph whose value may be read.
struct Value {
  Tensor t;
  bool is_static = false;
};

// Runs a node's graph attribute (If's branches, Loop's and Scan's body) in the scope of the
// graph that holds the node: the subgraph reads its formal inputs, its own initializers and
// the values of every enclosing graph by name (the ONNX IR's lexical scoping). Implemented
// by model.cc, which checked the subgraph when the model was imported.
class SubgraphRunner {
 public:
  virtual ~SubgraphRunner() = default;
  virtual std::vector<Value> run(const onnxpb::GraphProto& g, const std::vector<Value>& inputs) const = 0;
};
// A TensorProto as a Tensor: every declared size checked against the data and the limits
// before anything is allocated. `what` names it in errors ("initializer 'w'").
Tensor tensor_from_proto(const onnxpb::TensorProto& p, const TensorLimits& limits, const std::string& what);

class NodeContext {
 public:
  NodeContext(const onnxpb::NodeProto& node, int64_t opset, std::vector<Tensor> inputs,
              const TensorLimits& limits)
      : node_(node), opset_(opset), inputs_(std::move(inputs)), limits_(limits) {}

  const onnxpb::NodeProto& node() const { return node_; }
  int64_t opset() const { return opset_; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return static_cast<size_t>(node_.output_size()); }
  // Whether output i is wanted (present with a non-empty name).
  bool wants_output(size_t i) const {
    return i < num_outputs() && !node_.output(static_cast<int>(i)).empty();
  }
  // Whether optional input i was given (present and not the empty name).
  bool has(size_t i) const { return i < inputs_.size() && inputs_[i].defined(); }
  // Input i, required: an error naming the node when it is missing.
  const Tensor& in(size_t i) const;
  const std::vector<Tensor>& inputs() const { return inputs_; }
  // The values of input i as integers (shapes, axes, pads, k...).
  std::vector<int64_t> ints(size_t i) const;
  double scalar(size_t i) const;  // the single value of input i
  // The single value of input i as an integer (an int64 read as is; a float must be finite
  // and within +-2^62), for counts, axes and lengths given as tensors.
  int64_t int_scalar(size_t i) const;

  // Attributes, type-checked: a wrong type names the attribute, the type expected and the
  // type the file has.
  const onnxpb::AttributeProto* attr(const char* name) const;
  bool has_attr(const char* name) const { return attr(name) != nullptr; }
  int64_t i(const char* name, std::optional<int64_t> def = std::nullopt) const;
  double f(const char* name, std::optional<double> def = std::nullopt) const;
  std::string s(const char* name, std::optional<std::string> def = std::nullopt) const;
  std::vector<int64_t> ints_attr(const char* name) const;  // required
  std::optional<std::vector<int64_t>> ints_attr_opt(const char* name) const;
  std::vector<float> floats_attr(const char* name) const;
  Tensor tensor_attr(const char* name) const;

  // "Conv node 'conv1'" (or "Conv node #3" when unnamed), for errors.
  std::string describe() const;
  [[noreturn]] void fail(const std::string& msg) const;         // InvalidArgumentError
  [[noreturn]] void unsupported(const std::string& msg) const;  // NotImplementedError
  void check(bool cond, const std::string& msg) const {
    if (!cond) fail(msg);
  }
  int64_t axis(int64_t a, int64_t rank) const;  // wraps a negative axis, checks its range
  // Refuses an output whose size comes from input values (ConstantOfShape, Expand, Tile,
  // Range...) when it would exceed ImportOptions::max_tensor_bytes: bounded memory on
  // hostile values, with an error naming the shape.
  void check_size(const std::vector<int64_t>& shape, DType dtype) const;

  const TensorLimits& limits() const { return limits_; }
  int node_index = -1;

  // Control flow (import_control.cc): whether each input is static, the runner of the
  // node's graph attributes, and which outputs the import function found static (so later
  // nodes may fold over them under tessera::compile).
  std::vector<bool> input_static;
  const SubgraphRunner* subgraphs = nullptr;
  std::vector<bool> output_static;
  // The graph attribute `name` (required; an error names it when missing or not a graph).
  const onnxpb::GraphProto& graph_attr(const char* name) const;

 private:
  const onnxpb::NodeProto& node_;
  int64_t opset_;
  std::vector<Tensor> inputs_;
  const TensorLimits& limits_;
};

// The outputs of a node, in order (undefined for an optional output not computed).
using ImportFn = std::vector<Tensor> (*)(NodeContext& ctx);
// The export side (exporter.h): writes a Tessera graph node as ONNX nodes; each operator's
// row holds the function of the Tessera op that maps to it, so both directions sit side by
// side.
class ExportContext;
using ExportFn = void (*)(ExportContext& ctx);

struct OpEntry {
  const char* onnx_op;
  int since_opset;      // the first opset the import function handles
  ImportFn import_fn;
  const char* tessera;  // the Tessera ops it becomes (docs/onnx.md)
  ExportFn export_fn = nullptr;
  int until_opset = 18;  // the last opset it handles
};
const std::vector<OpEntry>& op_table();
const OpEntry* find_op_entry(const std::string& op_type);

}  // namespace tessera::onnx::detail
