// onnx::save_compiled / onnx::load_compiled (tessera/onnx.h): a compiled function's graph
// as an ONNX file and back. The graph comes from the compile cache as traced
// (graph/compiled_access.h), so nothing is traced again and no example input is needed.
#include "graph/compiled_access.h"
#include "onnx/exporter.h"
#include "tessera/error.h"
#include "tessera/onnx.h"

namespace tessera::onnx {

using tessera::detail::concat;

ExportSummary save_compiled(const CompiledFunction& f, const std::string& path, const ExportOptions& options) {
  const graph::CompiledAccess::LastGraph last = graph::CompiledAccess::last_graph(f);
  TESSERA_CHECK(last.graph != nullptr, "onnx::save_compiled: the compiled function has no graph yet: call it once "
                "(with inputs of the shapes to serve) so it traces one, then save");
  const graph::Graph& g = *last.graph;
  // Checked on the whole graph, not only on what reaches the outputs: a train step's
  // updates reach none of them, and exporting its forward alone would drop them silently.
  for (const graph::Node& n : g.nodes)
    TESSERA_CHECK_IMPLEMENTED(!n.writes(), "onnx::save_compiled: the graph writes tensors (Tessera op '", n.op->name,
                              "'", n.where.empty() ? std::string() : concat(" at ", n.where),
                              "): a compiled train step or in-place update has no ONNX form; compile and save "
                              "the forward function (the model in eval mode)");
  try {
    return detail::export_graph_to_file(g, path, options);
  } catch (const Error& e) {
    if (!last.loaded) throw;
    // A loaded graph is the one its file holds, often optimized for the backend.
    throw_error(e.kind(), concat("onnx::save_compiled: the graph loaded from '", last.source,
                                 "' (load_compiled runs the graph as saved, after its passes): ", e.what()));
  }
}

CompiledFunction load_compiled(const std::string& path, CompileOptions options, const ImportOptions& import_options) {
  return import_model(path, import_options).compile(options);
}

}  // namespace tessera::onnx
