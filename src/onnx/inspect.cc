// `tessera inspect` and `tessera convert`'s library side (docs/onnx.md, "Command line"):
// what an ONNX or safetensors file holds, and a FLOPs estimate from the graph a model
// traces into (the same IR graph mode runs: every node's shapes are known there).
#include <filesystem>
#include <fstream>
#include <map>

#include "core/files.h"
#include "graph/serialize.h"
#include "graph/tracer.h"
#include "onnx/exporter.h"
#include "tessera/error.h"
#include "tessera/grad_mode.h"
#include "tessera/serialize.h"

namespace tessera::onnx::detail {

namespace {

int64_t numel(const ops::TensorMeta& m) {
  int64_t n = 1;
  for (int64_t d : m.sizes) n *= d;
  return n;
}

// One run's floating-point operations, node by node.
int64_t node_flops(const graph::Graph& g, const graph::Node& n) {
  const std::string op = n.op->name;
  if (n.op->flags & ops::kIsView) return 0;
  if (n.outputs.empty()) return 0;
  const ops::TensorMeta& out = g.values[static_cast<size_t>(n.outputs[0])].meta;
  auto in = [&](size_t i) -> const ops::TensorMeta& { return g.values[static_cast<size_t>(n.inputs.at(i))].meta; };
  if (op == "conv2d" || op == "conv2d_blocked") {
    const auto& w = in(1).sizes;  // [Cout, Cin/groups, kh, kw] (plain) or packed
    int64_t per = 1;
    if (op == "conv2d") {
      per = w[1] * w[2] * w[3];
    } else {
      for (size_t d = 0; d < w.size(); ++d) per *= w[d];
      per /= std::max<int64_t>(n.attrs.i("out_channels"), 1);
    }
    return 2 * numel(out) * per;
  }
  if (op == "conv_transpose2d") {
    const auto& w = in(1).sizes;  // [Cin, Cout/groups, kh, kw]
    return 2 * numel(in(0)) * w[1] * w[2] * w[3];
  }
  if (op == "matmul" || op == "mm" || op == "bmm" || op == "dot" || op == "linear_fused" || op == "addmm") {
    const ops::TensorMeta& a = op == "addmm" ? in(1) : in(0);
    const int64_t k = a.sizes.empty() ? 1 : a.sizes.back();
    return 2 * std::max<int64_t>(numel(out), 1) * k;
  }
  if (op == "max_pool2d" || op == "avg_pool2d" || op == "max_pool2d_blocked") {
    const auto& k = n.attrs.ints("kernel");
    return numel(out) * k[0] * k[1];
  }
  if (op == "full" || op == "arange" || op == "linspace" || op == "eye" || op == "cast" || op == "clone") return 0;
  // Elementwise, reductions, normalization: about one operation per input element.
  int64_t biggest = numel(out);
  for (size_t i = 0; i < n.inputs.size(); ++i) biggest = std::max(biggest, numel(in(i)));
  return biggest;
}

int64_t graph_flops(const graph::Graph& g) {
  int64_t total = 0;
  for (const graph::Node& n : g.nodes) total += node_flops(g, n);
  return total;
}

std::string histogram(const std::map<std::string, int>& h) {
  std::string s;
  for (const auto& [op, count] : h) s += tessera::detail::concat(s.empty() ? "" : ", ", op, ": ", count);
  return s;
}

ValueInfo value_info(const graph::Graph& g, int id, const std::string& name) {
  ValueInfo v;
  v.name = name;
  const ops::TensorMeta& m = g.values[static_cast<size_t>(id)].meta;
  v.dtype = m.dtype;
  v.has_shape = true;
  v.dims.assign(m.sizes.begin(), m.sizes.end());
  v.dim_names.assign(v.dims.size(), "");
  return v;
}

bool is_onnx(const std::string& path) {
  // safetensors starts with an 8-byte little-endian header length and then '{'; a
  // ModelProto with anything in it starts with a field tag (ir_version: 0x08).
  std::ifstream in(path, std::ios::binary);
  char head[9] = {};
  in.read(head, 9);
  if (in.gcount() == 9 && head[8] == '{') return false;
  return std::filesystem::path(path).extension() != ".safetensors";
}

}  // namespace

}  // namespace tessera::onnx::detail

namespace tessera::onnx {

ExportSummary export_compiled_file(const std::string& graph_path, const std::string& onnx_path,
                                   const ExportOptions& options) {
  const graph::Graph g = graph::load_graph(graph_path);
  return detail::export_graph_to_file(g, onnx_path, options);
}

FileReport inspect_file(const std::string& path) {
  tessera::detail::check_readable_file("inspect", path);
  FileReport r;
  if (detail::is_onnx(path)) {
    Model m = import_model(path);
    r.format = "onnx";
    r.details = tessera::detail::concat("opset ", m.opset(), ", IR ", m.ir_version(),
                                        m.producer().empty() ? "" : ", producer ", m.producer());
    r.inputs = m.inputs();
    r.outputs = m.outputs();
    r.op_histogram = m.op_histogram();
    r.num_nodes = m.num_nodes();
    for (const auto& [name, t] : m.parameters()) {
      if (!is_floating(t.dtype())) continue;  // shapes, axes, indices: not parameters
      r.parameters += t.numel();
      r.parameter_bytes += t.numel() * static_cast<int64_t>(itemsize(t.dtype()));
    }
    // FLOPs: the model traced on zeros, symbolic dims taken as 1.
    std::vector<Tensor> zeros_in;
    bool symbolic = false;
    for (const ValueInfo& v : r.inputs) {
      std::vector<int64_t> dims = v.dims;
      for (int64_t& d : dims)
        if (d < 0) {
          d = 1;
          symbolic = true;
        }
      zeros_in.push_back(zeros(dims, TensorOptions(v.dtype)));
    }
    try {
      NoGradGuard no_grad;
      graph::Trace t = graph::trace([&m](const std::vector<Tensor>& in) { return m.run(in); }, zeros_in);
      r.flops = detail::graph_flops(t.graph);
      r.flops_note = symbolic ? "symbolic dims taken as 1" : "";
    } catch (const Error& e) {
      r.flops = -1;
      r.flops_note = tessera::detail::concat("not estimated: ", e.what());
    }
    return r;
  }
  SafetensorsContents c = load_safetensors(path);
  for (const auto& [name, t] : c.tensors) {
    r.parameters += t.numel();
    r.parameter_bytes += t.numel() * static_cast<int64_t>(itemsize(t.dtype()));
    r.tensors.emplace_back(name, tessera::detail::concat(shape_str(t.sizes()), " ", dtype_name(t.dtype())));
  }
  if (c.metadata.count("tessera.graph") == 0) {
    r.format = "safetensors";
    r.flops_note = "tensors only (no graph)";
    return r;
  }
  const graph::Graph g = graph::load_graph(path);
  r.format = "tessera compiled graph (safetensors)";
  for (size_t i = 0; i < g.inputs.size(); ++i) r.inputs.push_back(detail::value_info(g, g.inputs[i], tessera::detail::concat("input_", i)));
  for (size_t i = 0; i < g.outputs.size(); ++i)
    r.outputs.push_back(detail::value_info(g, g.outputs[i], tessera::detail::concat("output_", i)));
  std::map<std::string, int> h;
  for (const graph::Node& n : g.nodes) ++h[n.op->name];
  r.op_histogram = detail::histogram(h);
  r.num_nodes = g.nodes.size();
  r.flops = detail::graph_flops(g);
  return r;
}

}  // namespace tessera::onnx
