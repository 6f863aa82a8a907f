#pragma once
// ONNX import (docs/onnx.md): an .onnx file becomes a model Tessera runs eagerly, through
// the op table like any other code, or compiled into a graph by tessera::compile.
//
//   tessera::onnx::Model m = tessera::onnx::import_model("resnet18.onnx");
//   std::vector<Tensor> y = m.run({x});                  // eager
//   tessera::CompiledFunction fast = m.compile();        // graph mode, one graph per input
//   Tensor y2 = fast(x);                                  // shape (symbolic batch: retraces)
//
// Opsets 7 to 18 of the default domain (ai.onnx). Initializers become tensors the model
// holds (parameters(): the same handles the model reads, so requires_grad_ on them makes
// the model trainable, and an optimizer's updates show). External data is read from files
// in the model's folder only. Input dims declared symbolic (dim_param) or unknown take any
// size; the same dim_param must have the same size in every input.
//
// Bad files throw tessera::Error: an InvalidArgumentError naming the tensor, node or field
// and what was expected versus what came (truncated protobuf, wrong types, absurd shapes,
// undefined inputs, cycles, external paths leaving the folder), an IOError for a missing
// file, a NotImplementedError naming an operator (or attribute value) Tessera does not
// support. Memory stays bounded by the file's own size and ImportOptions' limits.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/graph.h"
#include "tessera/tensor.h"

namespace tessera::onnx {

struct ImportOptions {
  // Float initializers are treated as values that may change (parameters to train): no
  // computation over them is folded when the model is compiled. Off (inference), ops whose
  // inputs are all initializers or shapes are computed once, when a graph is traced.
  bool trainable = false;
  // Limits that bound memory on hostile input: a tensor (initializer, Constant, external
  // data) may declare at most this many bytes, and the model file at most max_file_bytes.
  int64_t max_tensor_bytes = int64_t{4} << 30;
  int64_t max_file_bytes = int64_t{4} << 30;
};

// One graph input or output as the file declares it. A dim of -1 is symbolic or unknown
// (its name in dim_names, empty when unnamed).
struct ValueInfo {
  std::string name;
  DType dtype = DType::Float32;
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;
};

class TESSERA_API Model {
 public:
  struct Impl;
  explicit Model(std::shared_ptr<Impl> impl);

  const std::vector<ValueInfo>& inputs() const;   // without the inputs initializers feed
  const std::vector<ValueInfo>& outputs() const;
  int64_t opset() const;                           // of the default domain
  int64_t ir_version() const;
  const std::string& producer() const;             // producer_name and version
  size_t num_nodes() const;
  // Nodes per operator, e.g. "Conv: 20, Relu: 17" (sorted by name).
  std::string op_histogram() const;
  // Initializers by name, in file order: the tensors the model reads at run time.
  const std::vector<std::pair<std::string, Tensor>>& parameters() const;

  // Runs the graph's nodes in order through the op table. Inputs in the order of inputs()
  // (checked against the declared dtypes and dims). Returns the outputs in file order.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;
  // A compiled function of run(): traced per input signature, optimized, cached.
  CompiledFunction compile(CompileOptions options = {}) const;

 private:
  std::shared_ptr<Impl> impl_;
};

TESSERA_API Model import_model(const std::string& path, const ImportOptions& options = {});
// From bytes in memory; external data (if any) is looked up under base_dir ("" refuses it).
TESSERA_API Model import_model_from_bytes(std::string_view bytes, const std::string& base_dir = "",
                                          const ImportOptions& options = {});

// A serialized TensorProto (the .pb files of ONNX's test data) as a Tensor.
TESSERA_API Tensor load_tensor(const std::string& path);
TESSERA_API Tensor parse_tensor(std::string_view bytes);

// One row of the importer's operator table (docs/onnx.md is generated from it).
struct OpSupport {
  std::string onnx_op;     // e.g. "Gemm"
  int since_opset = 7;     // the first opset the importer handles for it
  std::string tessera;     // what it becomes, e.g. "matmul, add (transA/transB: permute)"
  bool exports = false;    // an export function exists (a later milestone)
};
TESSERA_API std::vector<OpSupport> supported_ops();
// Whether the importer can take op_type at `opset`, and, when not, why ("" when it can).
TESSERA_API std::string unsupported_reason(const std::string& op_type, int64_t opset);

// ---- conformance: ONNX's backend node tests (tools: `tessera onnx-conformance`) ----
// A case is a folder: model.onnx plus test_data_set_*/input_<i>.pb and output_<i>.pb.
enum class CaseStatus { Pass, Fail, Unsupported };
struct CaseResult {
  std::string name;    // the folder's name, e.g. "test_abs"
  CaseStatus status = CaseStatus::Fail;
  std::string detail;  // fail: the worst error; unsupported: what is not supported
  double worst_error = 0;  // the largest |actual - expected| seen (fail and pass)
};
struct ConformanceOptions {
  double rtol = 1e-3;   // as onnx's own backend test runner
  double atol = 1e-7;
  bool compiled = false;  // run through Model::compile() instead of eagerly
};
// Runs one case folder. Never throws for what the case holds: a bad file or a wrong result
// is a Fail with the reason, an unsupported operator (or attribute value or dtype) is
// Unsupported naming it.
TESSERA_API CaseResult run_node_test(const std::string& case_dir, const ConformanceOptions& options = {});
// The node tests' folder of Debian's libonnx-testdata when installed, else "".
TESSERA_API std::string default_node_test_dir();

}  // namespace tessera::onnx
