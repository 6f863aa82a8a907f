// `tessera inspect FILE` and `tessera convert IN OUT` (docs/onnx.md, "Command line").
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "tessera/error.h"
#include "tessera/graph.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"

namespace tessera_cli {

namespace fs = std::filesystem;
namespace ox = tessera::onnx;

CLI::App* add_inspect_command(CLI::App& app, InspectConfig& cfg) {
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Describes an ONNX model or a safetensors file (weights, or a compiled graph saved by\n"
      "CompiledFunction::save): inputs, outputs, operator histogram, parameter count and a\n"
      "FLOPs estimate of one run.");
  cmd->add_option("file", cfg.file, "the .onnx or .safetensors file")->required()->check(non_empty())->type_name("FILE");
  return cmd;
}

namespace {

std::string dims_str(const ox::ValueInfo& v) {
  if (!v.has_shape) return "?";
  std::string s = "[";
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += ", ";
    if (v.dims[i] >= 0) s += std::to_string(v.dims[i]);
    else s += i < v.dim_names.size() && !v.dim_names[i].empty() ? v.dim_names[i] : std::string("?");
  }
  return s + "]";
}

std::string grouped(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0 && s[i - 1] != '-') out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

int run_inspect(const InspectConfig& cfg) {
  const ox::FileReport r = ox::inspect_file(cfg.file);
  std::cout << cfg.file << ": " << r.format << (r.details.empty() ? "" : " (" + r.details + ")") << "\n";
  if (!r.inputs.empty() || !r.outputs.empty()) {
    std::cout << "inputs:\n";
    for (const auto& v : r.inputs) std::cout << "  " << v.name << ": " << dims_str(v) << " " << tessera::dtype_name(v.dtype) << "\n";
    std::cout << "outputs:\n";
    for (const auto& v : r.outputs) std::cout << "  " << v.name << ": " << dims_str(v) << " " << tessera::dtype_name(v.dtype) << "\n";
    std::cout << "nodes: " << r.num_nodes << " (" << r.op_histogram << ")\n";
  }
  if (!r.tensors.empty() && r.inputs.empty()) {
    std::cout << "tensors: " << r.tensors.size() << "\n";
    for (const auto& [name, desc] : r.tensors) std::cout << "  " << name << ": " << desc << "\n";
  }
  std::cout << "parameters: " << grouped(r.parameters) << " (" << grouped(r.parameter_bytes) << " bytes)\n";
  if (r.flops >= 0)
    std::cout << "flops: " << grouped(r.flops) << " per run" << (r.flops_note.empty() ? "" : " (" + r.flops_note + ")") << "\n";
  else
    std::cout << "flops: unknown (" << r.flops_note << ")\n";
  return 0;
}

CLI::App* add_convert_command(CLI::App& app, ConvertConfig& cfg) {
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Converts between ONNX and Tessera's compiled-graph file (safetensors: the graph and its\n"
      "weights, load_compiled runs it):\n"
      "  tessera convert model.onnx model.safetensors   ONNX -> compiled graph (traced at --batch)\n"
      "  tessera convert model.safetensors model.onnx   compiled graph -> ONNX (--opset,\n"
      "                                                 --dynamic-batch, --external-data)\n"
      "The direction follows the files' extensions.");
  cmd->add_option("input", cfg.input, "the file to convert (.onnx or .safetensors)")->required()->check(non_empty())->type_name("IN");
  cmd->add_option("output", cfg.output, "the file to write (.safetensors or .onnx)")->required()->check(non_empty())->type_name("OUT");
  cmd->add_option("--opset", cfg.opset, "ONNX opset to write (11 to 21, default 17)")->check(integer_in(11, 21, "an opset from 11 to 21"))->type_name("N");
  cmd->add_option("--batch", cfg.batch, "the size a symbolic dim takes when tracing an ONNX model (default 1)")->check(positive_int())->type_name("N");
  cmd->add_flag("--dynamic-batch", cfg.dynamic_batch, "ONNX: make dim 0 of inputs and outputs symbolic (\"batch\")");
  cmd->add_flag("--external-data", cfg.external_data,
                "-> ONNX: write the weights (initializers of 1 KiB or more) to OUT.data next to the\n"
                "model, in ONNX's external-data form (onnx.load and ONNX Runtime read it)");
  cmd->add_flag("--no-optimize", cfg.no_optimize,
                "ONNX -> compiled graph: save the graph as traced (plain ops, which convert back to\n"
                "ONNX), not optimized and frozen for this machine");
  return cmd;
}

int run_convert(const ConvertConfig& cfg) {
  const std::string in_ext = fs::path(cfg.input).extension().string();
  const std::string out_ext = fs::path(cfg.output).extension().string();
  if (in_ext == ".onnx" && out_ext == ".safetensors") {
    ox::Model m = ox::import_model(cfg.input);
    std::vector<tessera::Tensor> inputs;
    for (const ox::ValueInfo& v : m.inputs()) {
      std::vector<int64_t> dims = v.dims;
      for (int64_t& d : dims)
        if (d < 0) d = cfg.batch;
      inputs.push_back(tessera::zeros(dims, tessera::TensorOptions(v.dtype)));
    }
    tessera::CompileOptions co;
    co.optimize = !cfg.no_optimize;
    co.freeze = !cfg.no_optimize;
    tessera::CompiledFunction f = m.compile(co);
    f(inputs);
    f.save(cfg.output);
    std::cout << cfg.input << " -> " << cfg.output << ": compiled graph (" << (co.optimize ? "optimized, frozen" : "as traced")
              << ") of " << m.num_nodes() << " ONNX nodes, inputs traced at";
    for (const auto& t : inputs) std::cout << " " << tessera::shape_str(t.sizes());
    std::cout << "\n";
    return 0;
  }
  if (in_ext == ".safetensors" && out_ext == ".onnx") {
    ox::ExportOptions o;
    o.opset = cfg.opset;
    o.dynamic_batch = cfg.dynamic_batch;
    o.external_data = cfg.external_data;
    const ox::ExportSummary s = ox::export_compiled_file(cfg.input, cfg.output, o);
    std::cout << cfg.input << " -> " << cfg.output << ": ONNX opset " << s.opset << ", " << s.num_nodes << " nodes ("
              << s.op_histogram << "), " << s.num_initializers << " initializers";
    if (!s.external_data_path.empty())
      std::cout << " (" << s.num_external << " in " << s.external_data_path << ", " << s.external_bytes << " bytes)";
    std::cout << "\n";
    return 0;
  }
  std::cerr << "tessera convert: converts .onnx to .safetensors or .safetensors to .onnx; got '" << cfg.input
            << "' -> '" << cfg.output << "'\n";
  return kExitUsage;
}

}  // namespace tessera_cli
