// Algorithm selection for the convolutions of inference graphs: the float32 3x3
// stride-1 forward convolutions with at least ops::kWinogradMinChannels channels ask for
// Winograd (attribute algorithm = "winograd"), which the CPU backend runs with oneDNN's
// Winograd kernels where the CPU has them (direct elsewhere), whatever the batch: a
// graph's weights are transformed once and kept (frozen constants, or cached per weight
// version), so even batch-1 inference gains (eager asks only where the per-call transform
// pays, ops::winograd_pays). Results agree with direct to float32 rounding
// (tests/graph/compile_test.cc).
// Training steps are left as traced: nn::functional::conv2d records eager's choice on each
// convolution and the backward rule passes it to the gradient ops, so a compiled step
// runs the algorithms eager runs. (When compiled steps used Winograd where eager did not,
// the forward's rounding reached every gradient and Adam's normalised steps carried it on:
// CNN28, 20 Adam steps, parameters 1.2e-5 to 2.1e-5 from eager's, against the 1e-5 bound.)
#include "graph/passes/passes.h"
#include "ops/conv.h"

namespace tessera::graph {

int select_conv_algorithms(Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op == &ops::kConv2dBackwardInput || n.op == &ops::kConv2dBackwardWeight) return 0;  // a training step
  int chosen = 0;
  for (Node& n : g.nodes) {
    if (n.op != &ops::kConv2d || n.attrs.get<std::string>("algorithm") == "winograd") continue;
    bool f32 = true;
    for (int id : n.inputs) f32 = f32 && g.values[static_cast<size_t>(id)].meta.dtype == DType::Float32;
    if (!f32 || n.inputs.size() < 2 || (n.attrs.has("precision") && n.attrs.get<std::string>("precision") != "float32"))
      continue;
    const ops::ConvGeometry geo = ops::conv_geometry(g.values[static_cast<size_t>(n.inputs[0])].meta.sizes,
                                                     g.values[static_cast<size_t>(n.inputs[1])].meta.sizes, n.attrs);
    if (geo.n == 0 || !ops::winograd_suits(geo)) continue;
    ops::Attrs attrs;
    for (const ops::Attr& at : n.attrs.items())
      attrs.add(at.name == "algorithm" ? ops::Attr{at.name, std::string("winograd")} : at);
    n.attrs = std::move(attrs);
    ++chosen;
  }
  return chosen;
}

}  // namespace tessera::graph
