// Algorithm selection for the convolutions of any graph, training steps included: the
// float32 3x3 stride-1 convolutions and their two gradient ops ask for Winograd
// (attribute algorithm = "winograd"), which the CPU backend runs with oneDNN's Winograd
// kernels where the CPU has them (direct elsewhere). Measured on CNN28's 32->64 layer at
// batch 64 (AVX-512, 1 thread): forward, backward-data and backward-weights each take about
// half the direct kernels' time. Eager mode keeps the direct kernels (its results are the
// reference compiled ones are compared with); a graph is compiled once and run many
// times, the place for a choice like this (as cuDNN's algorithm search, XLA's autotuning).
// Results agree with direct to float32 rounding (tests/graph/compile_test.cc).
// In a training step the forward convolutions stay direct: Winograd's forward rounding
// reaches the loss and every gradient, and Adam's normalised steps carry it on. CNN28, 20
// Adam steps in float32 vs eager, relative l2 of the parameters over seeds 17, 4, 2:
// 1.2e-5, 2.1e-5, 4.9e-6 with a Winograd forward; 5.1e-7, 2.2e-6, 4.2e-7 with only the
// gradient ops on Winograd (the bound is 1e-5).
#include "graph/passes/passes.h"
#include "ops/conv.h"

namespace tessera::graph {
namespace {

// Winograd transforms each input and output tile per channel and then multiplies over the
// channels; with a handful of input channels (an image's 1 or 3) the transforms are all
// there is. Measured, compiled training steps at 1 thread: the weight gradient of CNN28's
// first layer (1->32, batch 64) took 4.65 ms with Winograd against 1.29 ms direct, CNN64's
// (3->32 at 64x64, batch 32) 10.7 ms against 5.2 ms (TESSERA_PROFILE, reorders included).
constexpr int64_t kWinogradMinChannels = 16;

}  // namespace

int select_conv_algorithms(Graph& g) {
  bool trains = false;  // the graph computes convolution gradients
  for (const Node& n : g.nodes)
    trains = trains || n.op == &ops::kConv2dBackwardInput || n.op == &ops::kConv2dBackwardWeight;
  int chosen = 0;
  for (Node& n : g.nodes) {
    const bool fwd = n.op == &ops::kConv2d && !trains;
    const bool bwd_in = n.op == &ops::kConv2dBackwardInput;
    const bool bwd_w = n.op == &ops::kConv2dBackwardWeight;
    if (!(fwd || bwd_in || bwd_w) || n.attrs.get<std::string>("algorithm") == "winograd") continue;
    bool f32 = true;
    for (int id : n.inputs) f32 = f32 && g.values[static_cast<size_t>(id)].meta.dtype == DType::Float32;
    if (!f32 || n.inputs.size() < 2) continue;
    const Shape& a = g.values[static_cast<size_t>(n.inputs[0])].meta.sizes;
    const Shape& b = g.values[static_cast<size_t>(n.inputs[1])].meta.sizes;
    const ops::ConvGeometry geo = fwd      ? ops::conv_geometry(a, b, n.attrs)
                                  : bwd_in ? ops::conv_geometry(n.attrs.ints("input_size"), b, n.attrs)
                                           : ops::conv_geometry(a, n.attrs.ints("weight_size"), n.attrs);
    if (geo.kh != 3 || geo.kw != 3 || geo.stride[0] != 1 || geo.stride[1] != 1 || geo.dilation[0] != 1 ||
        geo.dilation[1] != 1 || geo.groups != 1 || geo.n == 0 || geo.c < kWinogradMinChannels ||
        geo.o < kWinogradMinChannels)
      continue;
    ops::Attrs attrs;
    for (const ops::Attr& at : n.attrs.items())
      attrs.add(at.name == "algorithm" ? ops::Attr{at.name, std::string("winograd")} : at);
    n.attrs = std::move(attrs);
    ++chosen;
  }
  return chosen;
}

}  // namespace tessera::graph
