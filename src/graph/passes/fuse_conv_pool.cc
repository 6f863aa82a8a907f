// A training step's convolution followed by 2x2 max pooling at stride 2, both blocked
// (select_training_conv_layouts made them), becomes one conv2d_max_pool2x2_blocked node
// when the pooling alone reads the convolution's output. Where the backend's bf16
// Winograd runs the convolution, its 2x2 output tiles are the pooling windows: the fused
// kernel pools each tile as it computes it, and the convolution's output (CNN28: 9.4 MB at
// batch 64, written, then read back by the pooling) never reaches memory. Values and
// indices are bit for bit the two nodes' (ops/conv_blocked.cc). Only convolutions that ask
// for Winograd in bf16: elsewhere the backend has no fused kernel and would run the two
// ops anyway (as it does where the bf16 Winograd turns out not to apply).
// Only the activation "none": pool_before_relu has already moved such a ReLU past the
// pooling, and a convolution that kept a fused ReLU is left alone.
#include "graph/passes/passes.h"
#include "ops/conv.h"

namespace tessera::graph {

int fuse_conv_max_pool(Graph& g) {
  const ValueReaders readers(g);
  std::vector<bool> written(g.values.size(), false);
  for (const Node& n : g.nodes)
    if (n.into >= 0) written[static_cast<size_t>(n.into)] = true;
  const ops::Attrs two_by_two = ops::two_by_two_pool();
  std::vector<bool> drop(g.nodes.size(), false);
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& conv = g.nodes[k];
    if (conv.op != &ops::kConv2dBlocked || conv.writes() || conv.inputs.size() != 3 ||
        conv.attrs.get<std::string>("activation") != "none" || conv.attrs.get<std::string>("algorithm") != "winograd" ||
        !ops::wants_bf16(conv.attrs))
      continue;
    const int y = conv.outputs[0];
    const int p = readers.sole_reader(y);
    if (p < 0 || written[static_cast<size_t>(y)]) continue;
    const Node& pool = g.nodes[static_cast<size_t>(p)];
    if (pool.op != &ops::kMaxPool2dIndicesBlocked || pool.writes()) continue;
    bool same_window = true;
    for (const char* a : {"kernel", "stride", "padding", "dilation"})
      same_window = same_window && IntArrayRef(pool.attrs.ints(a)).equals(two_by_two.ints(a));
    if (!same_window || pool.attrs.get<bool>("ceil_mode")) continue;

    Node f;
    f.op = &ops::kConv2dMaxPool2x2Blocked;
    f.attrs = conv.attrs;
    f.inputs = conv.inputs;
    f.outputs = pool.outputs;  // the pooling's readers now read the fused node
    f.where = conv.where;
    for (size_t i = 0; i < f.outputs.size(); ++i) {
      Value& v = g.values[static_cast<size_t>(f.outputs[i])];
      v.node = static_cast<int>(k);
      v.index = static_cast<int>(i);
    }
    // In the convolution's place: its inputs are read when they were; the pooled values
    // are only read after the pooling's old place.
    g.nodes[k] = std::move(f);
    drop[static_cast<size_t>(p)] = true;
    ++fused;
  }
  if (fused) remove_nodes(g, drop);
  return fused;
}

}  // namespace tessera::graph
