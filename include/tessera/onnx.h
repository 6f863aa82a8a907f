#pragma once
// ONNX import and export (docs/onnx.md). Import: an .onnx file becomes a model Tessera runs
// eagerly, through the op table like any other code, or compiled into a graph by
// tessera::compile. Export: any function, Module or compiled function, traced on example
// inputs into a graph (docs/graph.md), becomes an ONNX model other runtimes run.
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
// size; the same dim_param must have the same size in every input. Control flow (If, Loop,
// Scan) runs its subgraphs, which read enclosing graphs' values by name; compiled, a static
// If traces one branch and small static loops unroll (docs/onnx.md, "Control flow").
//
// Bad files throw tessera::Error: an InvalidArgumentError naming the tensor, node or field
// and what was expected versus what came (truncated protobuf, wrong types, absurd shapes,
// undefined inputs, cycles, external paths leaving the folder), an IOError for a missing
// file, a NotImplementedError naming an operator (or attribute value) Tessera does not
// support. Memory stays bounded by the file's own size and ImportOptions' limits.
#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/graph.h"
#include "tessera/nn/module.h"
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
  // A bound on the iterations of one Loop or Scan, and on all subgraph runs (branches and
  // bodies, nested ones included) of one Model::run: an error past it. ONNX lets a Loop run
  // until its condition turns false, which a hostile file may never do; unbounded by
  // default, as loops in real models are the model's business. The fuzzer sets it low.
  int64_t max_loop_iterations = INT64_MAX;
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
  bool exports = false;    // an export function writes Tessera ops as this operator
  std::string exported_from;  // the Tessera ops it exports, e.g. "addmm"
};
TESSERA_API std::vector<OpSupport> supported_ops();
// One row of docs/onnx.md's table: "| Gemm | 7 | matmul, ... | addmm |" (an operator only
// export writes: "| Gelu | - | - | gelu |").
TESSERA_API std::string ops_markdown_row(const OpSupport& s);
// Whether the importer can take op_type at `opset`, and, when not, why ("" when it can).
TESSERA_API std::string unsupported_reason(const std::string& op_type, int64_t opset);

// ---- export: a traced graph as an ONNX ModelProto ----
//
//   auto net = tessera::models::resnet18();
//   net->eval();
//   tessera::onnx::ExportOptions o;
//   o.dynamic_batch = true;                              // dim 0 of inputs/outputs: "batch"
//   tessera::onnx::export_module(*net, {tessera::randn({1, 3, 224, 224})}, "r18.onnx", o);
//
// The function runs once on the example inputs, without gradients, while the tracer
// records it (the graph before any optimization pass: plain ops, never the backend's
// blocked layouts or fused kernels). Every node is written by its operator's export
// function (supported_ops(): the same table as import), with its attributes converted;
// the tensors it captured (weights, buffers, constants) become initializers. An op with no
// export function, or none at the requested opset, is a NotImplementedError naming the
// op and the opset; a graph that writes tensors (a train step) or draws random numbers is
// refused too.
struct ExportOptions {
  // Of the default domain; 11 to 21. Composites use the operator the opset has
  // (LayerNormalization from 17, Gelu from 20) and a decomposition below it.
  int64_t opset = 17;
  std::vector<std::string> input_names;   // default input_0, input_1, ...
  std::vector<std::string> output_names;  // default output_0, ...
  // Symbolic dims: input or output name -> {dim -> dim_param}, as torch.onnx's dynamic_axes.
  std::map<std::string, std::map<int64_t, std::string>> dynamic_axes;
  // Shorthand: dim 0 of every input and output is the symbolic "batch". Shapes the graph
  // spells out (a Reshape's target, an Expand's) keep dims equal to their input's as
  // copies, so they follow the batch.
  bool dynamic_batch = false;
  // Names for initializers: a captured tensor that is one of these (the same tensor) is
  // written under its name ("conv1.weight"), others as "const_<n>". export_module fills
  // it from the module's parameters and buffers.
  std::vector<std::pair<std::string, Tensor>> tensor_names;
  std::string producer_name = "tessera";
  std::string graph_name = "tessera_graph";
  // Weights in a side file, in ONNX's standard external-data form: each initializer of
  // external_data_threshold bytes or more has its raw bytes in one file next to the model
  // (TensorProto.data_location = EXTERNAL, with location/offset/length), the model file
  // keeps the graph and the small tensors. onnx.load, ONNX Runtime and import_model read
  // it as it is; needed past protobuf's 2 GiB limit on one file. Only for functions that
  // write a file (the *_to_bytes ones refuse it). The data file is written first, then the
  // model (each atomically); none when no tensor reaches the threshold.
  bool external_data = false;
  // The side file's name, in the model's folder; default: the model's file name + ".data"
  // ("resnet18.onnx.data").
  std::string external_data_location;
  int64_t external_data_threshold = 1024;  // bytes (onnx's own default)
};

// What the exporter wrote, for callers that want to look (tests, `tessera convert`).
struct ExportSummary {
  int64_t opset = 0;
  size_t num_nodes = 0;
  size_t num_initializers = 0;
  std::string op_histogram;  // ONNX nodes per operator, e.g. "Conv: 2, Relu: 3" (sorted)
  // external_data: the initializers written to the side file, their bytes (alignment
  // padding included) and the file's path ("" when none was written).
  size_t num_external = 0;
  int64_t external_bytes = 0;
  std::string external_data_path;
};

using FunctionToExport = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// The ModelProto's bytes (serialized protobuf).
TESSERA_API std::string export_function_to_bytes(const FunctionToExport& fn, const std::vector<Tensor>& example_inputs,
                                                 const ExportOptions& options = {},
                                                 ExportSummary* summary = nullptr);
// The same, written to `path` (an IOError when it cannot be written).
TESSERA_API ExportSummary export_function(const FunctionToExport& fn, const std::vector<Tensor>& example_inputs,
                                          const std::string& path, const ExportOptions& options = {});
// A compiled function's graph: its function traced afresh on the example inputs (before
// the passes, whatever the cache holds). A loaded graph (load_compiled) has no function
// to trace: an InvalidArgumentError.
TESSERA_API ExportSummary export_compiled(const CompiledFunction& f, const std::vector<Tensor>& example_inputs,
                                          const std::string& path, const ExportOptions& options = {});

// A module's forward (forward_multi), initializers named after its parameters and buffers.
// Export in the mode to be served (eval() for inference: dropout off, batch norm's running
// statistics).
inline ExportOptions with_module_names(nn::Module& module, ExportOptions options) {
  for (auto& p : module.named_parameters()) options.tensor_names.push_back(p);
  for (auto& b : module.named_buffers()) options.tensor_names.push_back(b);
  return options;
}
inline ExportSummary export_module(nn::Module& module, const std::vector<Tensor>& example_inputs,
                                   const std::string& path, const ExportOptions& options = {}) {
  return export_function([&module](const std::vector<Tensor>& in) { return module(in); },
                         example_inputs, path, with_module_names(module, options));
}
inline std::string export_module_to_bytes(nn::Module& module, const std::vector<Tensor>& example_inputs,
                                          const ExportOptions& options = {}, ExportSummary* summary = nullptr) {
  return export_function_to_bytes([&module](const std::vector<Tensor>& in) { return module(in); },
                                  example_inputs, with_module_names(module, options), summary);
}

// ---- compiled functions as ONNX files: the portable form of CompiledFunction::save ----
//
//   tessera::CompiledFunction fast = tessera::compile(*net);   // net->eval() first
//   fast(x);                                                   // traces (once per signature)
//   tessera::onnx::save_compiled(fast, "net.onnx", tessera::onnx::with_module_names(*net, {}));
//   tessera::CompiledFunction again = tessera::onnx::load_compiled("net.onnx");
//
// save_compiled writes the graph of the function's last call as it was traced, before the
// optimization passes (plain ops: no re-trace, no example inputs, nothing runs), with the
// weights' current values as initializers. CompiledFunction::save writes the optimized
// graph instead, for this build's backend (docs/graph.md, "Saving compiled functions").
// Errors: a function never called is an InvalidArgumentError (call it once first); a
// graph that writes tensors (a compiled train step) or draws random numbers (dropout in
// train mode) is a NotImplementedError, as is an op without an ONNX mapping. A function
// loaded by load_compiled (the graph layer's) holds the graph its file holds: it exports
// when that graph has no backend-only op (saved with CompileOptions::optimize = false),
// else the NotImplementedError names the op. Call these two qualified (onnx::): with
// `using namespace tessera`, tessera::load_compiled is the safetensors one.
TESSERA_API ExportSummary save_compiled(const CompiledFunction& f, const std::string& path,
                                        const ExportOptions& options = {});
// An ONNX file (any, not only save_compiled's) as a compiled function: import_model then
// Model::compile (the model stays alive inside the function). Symbolic dims take any size
// (one graph per input signature, or re-derived per batch with options.dynamic_batch).
TESSERA_API CompiledFunction load_compiled(const std::string& path, CompileOptions options = {},
                                           const ImportOptions& import_options = {});

// A compiled-graph file (CompiledFunction::save, load_compiled) as ONNX: its graph as saved.
// A graph saved after the backend's passes may hold ops with no ONNX form (a frozen
// graph's blocked convolutions): a NotImplementedError names them; save the graph with
// CompileOptions::optimize = false to convert it.
TESSERA_API ExportSummary export_compiled_file(const std::string& graph_path, const std::string& onnx_path,
                                               const ExportOptions& options = {});

// ---- inspection (`tessera inspect`): an ONNX file or a safetensors file ----
struct FileReport {
  std::string format;   // "onnx", "tessera compiled graph (safetensors)" or "safetensors"
  std::string details;  // ONNX: "opset 17, IR 8, producer tessera"
  std::vector<ValueInfo> inputs, outputs;  // models only
  std::string op_histogram;                // operators (ONNX) or ops (a compiled graph) per count
  size_t num_nodes = 0;
  int64_t parameters = 0;  // elements of the float initializers (ONNX) / stored tensors
  int64_t parameter_bytes = 0;
  std::vector<std::pair<std::string, std::string>> tensors;  // safetensors: name, "[3, 4] f32"
  // Floating-point operations of one run (a multiply-add counts 2; elementwise ops one per
  // element; shapes and views none), with symbolic dims taken as 1; -1 when unknown
  // (flops_note says why).
  int64_t flops = -1;
  std::string flops_note;
};
TESSERA_API FileReport inspect_file(const std::string& path);

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
