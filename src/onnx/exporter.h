#pragma once
// The ONNX exporter's inside: what a per-op export function sees of a graph node
// (ExportContext), beside importer.h's NodeContext. An export function reads the node's
// attributes and input/output metadata and appends ONNX nodes (one, or a decomposition)
// that compute the node's outputs under the names the exporter gave them.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "onnx/importer.h"
#include "tessera/onnx.h"

namespace tessera::onnx::detail {

class Exporter;

// ONNX's element type for a Tessera dtype.
int32_t onnx_type_of(DType t);
// A Tensor as a TensorProto (raw_data, little-endian as Tessera stores it).
void tensor_to_proto(const Tensor& t, const std::string& name, onnxpb::TensorProto& p);

class ExportContext {
 public:
  ExportContext(Exporter& ex, const graph::Graph& g, const graph::Node& node) : ex_(ex), g_(g), node_(node) {}

  const graph::Node& node() const { return node_; }
  const ops::Attrs& attrs() const { return node_.attrs; }
  const char* op_name() const { return node_.op->name; }
  int64_t opset() const;
  bool dynamic() const;  // whether any dim of the model is symbolic (shapes keep copies)

  size_t num_inputs() const { return node_.inputs.size(); }
  size_t num_outputs() const { return node_.outputs.size(); }
  const ops::TensorMeta& in_meta(size_t i) const;
  const ops::TensorMeta& out_meta(size_t i) const;
  int64_t in_rank(size_t i) const { return static_cast<int64_t>(in_meta(i).sizes.size()); }
  int64_t out_rank(size_t i) const { return static_cast<int64_t>(out_meta(i).sizes.size()); }
  // The ONNX name of input i.
  std::string in(size_t i) const;
  // Input i as `dtype`: the name itself when it has that dtype, a converted initializer for
  // a small constant (a wrapped scalar), else a Cast node's output.
  std::string in_as(size_t i, DType dtype);
  // The name output i must be written under (every output of the node must be written;
  // outputs nothing reads may be left undefined by calling skip_output(i)).
  std::string out(size_t i) const;
  bool output_used(size_t i) const;
  // A constant input's tensor (a captured or constant value), else undefined.
  Tensor in_constant(size_t i) const;

  // A new unique value name ("<op>_<n>_<hint>").
  std::string fresh(const std::string& hint);
  // Appends a node; `outs` empty: one fresh output. Returns the node (to add attributes).
  onnxpb::NodeProto* add(const std::string& op_type, const std::vector<std::string>& ins,
                         const std::vector<std::string>& outs);
  // One node with one fresh output; returns the output's name.
  std::string op1(const std::string& op_type, const std::vector<std::string>& ins);
  std::string op1_to(const std::string& op_type, const std::vector<std::string>& ins, const std::string& out) {
    add(op_type, ins, {out});
    return out;
  }
  std::string cast(const std::string& x, DType to);
  // Initializers made for the node: int64 vectors (axes, shapes, pads), scalars.
  std::string const_i64(const std::vector<int64_t>& v);
  std::string const_i64_scalar(int64_t v);
  std::string const_scalar(double v, DType dtype);  // a 0-d tensor
  std::string const_tensor(const Tensor& t);
  // Squeeze/Unsqueeze/reductions take axes as an attribute or an input by opset.
  // `out` empty: a fresh name.
  std::string unsqueeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& out = "");
  std::string squeeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& out = "");
  // A reduction `op_type` over `axes` (empty: all), axes as an input from `input_from`.
  onnxpb::NodeProto* reduce(const std::string& op_type, const std::string& x, const std::vector<int64_t>& axes,
                            bool keepdims, const std::string& out, int input_from);
  // A Reshape to `shape`, where dims equal to the input's at the same index are written as
  // copies (0) when the model has symbolic dims, so they follow the batch.
  std::string reshape(const std::string& x, const std::vector<int64_t>& in_shape, const std::vector<int64_t>& shape,
                      const std::string& out = "");

  [[noreturn]] void unsupported(const std::string& why) const;  // NotImplementedError

 private:
  Exporter& ex_;
  const graph::Graph& g_;
  const graph::Node& node_;
};

void set_attr(onnxpb::NodeProto* n, const char* name, int64_t v);
void set_attr(onnxpb::NodeProto* n, const char* name, double v);
void set_attr(onnxpb::NodeProto* n, const char* name, const std::string& v);
void set_attr(onnxpb::NodeProto* n, const char* name, const std::vector<int64_t>& v);
void set_attr_tensor(onnxpb::NodeProto* n, const char* name, const Tensor& t);

// A graph as a ModelProto (the exporter's core; the public functions trace first, or take
// a compiled function's traced graph). Writes nothing: tensors are inline (raw_data).
onnxpb::ModelProto export_graph(const graph::Graph& g, const ExportOptions& options, ExportSummary* summary);
// The same serialized; options.external_data is refused (it needs a file).
std::string export_graph_to_bytes(const graph::Graph& g, const ExportOptions& options, ExportSummary* summary);
// InvalidArgumentError for options only a file can honour (external_data).
void check_bytes_options(const ExportOptions& options);
// Writes `model` to `path` atomically; with options.external_data, first moves the raw
// bytes of its initializers of external_data_threshold bytes or more to the side file
// (ONNX's external data form; fills summary's external counts).
void write_model_file(onnxpb::ModelProto& model, const std::string& path, const ExportOptions& options,
                      ExportSummary* summary);
// export_graph then write_model_file.
ExportSummary export_graph_to_file(const graph::Graph& g, const std::string& path, const ExportOptions& options);

// One export function: the Tessera op (OpDef name) it writes, as the ONNX operator
// `onnx_op` (the import row it pairs with; a decomposition names its main operator), from
// opset `since_opset` on.
struct ExportRow {
  const char* onnx_op;
  const char* tessera_op;
  ExportFn fn;
  int since_opset = 1;
};
std::vector<ExportRow> export_rows();
// The export function of a Tessera op, or null.
const ExportRow* find_export(const std::string& tessera_op);

}  // namespace tessera::onnx::detail
