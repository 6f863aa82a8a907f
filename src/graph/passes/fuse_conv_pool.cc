// A convolution followed by 2x2 max pooling at stride 2, both blocked, becomes one node
// when the pooling alone reads the convolution's output: conv2d_max_pool2x2_blocked for a
// training step's pooling with indices (select_training_conv_layouts made them), and
// conv2d_max_pool2x2_values_blocked for an inference graph's values-only pooling. Where
// the backend's Winograd runs the convolution, its output tiles are whole pooling windows
// (F(2x2, 3x3)'s one, F(4x4, 3x3)'s four): the fused kernel pools each tile as it
// computes it, and the convolution's
// output (CNN28: 9.4 MB at batch 64, written, then read back by the pooling) never
// reaches memory. Values and indices are bit for bit the two nodes' (ops/conv_blocked.cc).
// Only convolutions whose Winograd has such a kernel: bf16 (with indices) and float32 on
// blocks of 8 (the AVX2 backend's own); elsewhere the backend would run the two ops anyway
// (as it does where the Winograd turns out not to apply).
// With indices only the activation "none": pool_before_relu has already moved such a ReLU
// past the pooling, and a convolution that kept a fused ReLU is left alone. An inference
// convolution's fused ReLU goes after the pooling, which it commutes with. In a training
// step the pooling's gradient then fuses into the convolution's gradient passes too
// (fuse_unpool_into_gradients below).
#include "graph/passes/passes.h"
#include "ops/conv.h"

namespace tessera::graph {
namespace {

// The backward half: the pooling's gradient, max_pool2d_backward_blocked(gp, idx) with
// idx from a conv2d_max_pool2x2_blocked, read only by that convolution's two gradient
// passes (Winograd, bf16 or float32 on blocks of 8; the forward's padding even, so that
// the input gradient's 4x4 patches are whole windows) and by bias sums. The passes become their _unpool forms,
// which build each tile of the gradient from gp and idx; a bias sum sums gp, the same
// values (each window's gradient lands at one position) without the zeros; the
// unpooled gradient (CNN28: 9.4 MB written, then read three times) is never made.
int fuse_unpool_into_gradients(Graph& g) {
  std::vector<std::vector<int>> readers(g.values.size());
  std::vector<bool> written(g.values.size(), false);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    for (int id : g.nodes[k].inputs) readers[static_cast<size_t>(id)].push_back(static_cast<int>(k));
    if (g.nodes[k].into >= 0) written[static_cast<size_t>(g.nodes[k].into)] = true;
  }
  const ValueReaders outputs_of(g);
  // The passes whose Winograd reads gp and idx itself: bf16, and float32 on blocks of 8.
  auto unpooling_winograd = [&](const Node& n, int gp) {
    const auto& s = g.values[static_cast<size_t>(gp)].meta.sizes;
    return n.attrs.get<std::string>("algorithm") == "winograd" &&
           (ops::wants_bf16(n.attrs) || (s.size() == 5 && s[4] == 8));
  };
  std::vector<bool> drop(g.nodes.size(), false);
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& unpool = g.nodes[k];
    if (unpool.op != &ops::kMaxPool2dBackwardBlocked || unpool.writes()) continue;
    const int gp = unpool.inputs[0], idx = unpool.inputs[1], gy = unpool.outputs[0];
    const Value& iv = g.values[static_cast<size_t>(idx)];
    if (iv.kind != ValueKind::Node || iv.index != 1 ||
        g.nodes[static_cast<size_t>(iv.node)].op != &ops::kConv2dMaxPool2x2Blocked)
      continue;
    const std::vector<int64_t>& pad = g.nodes[static_cast<size_t>(iv.node)].attrs.ints("padding");
    if (pad[0] % 2 != 0 || pad[1] % 2 != 0 || outputs_of.is_output(gy) || written[static_cast<size_t>(gy)]) continue;
    bool ok = !readers[static_cast<size_t>(gy)].empty();
    for (int r : readers[static_cast<size_t>(gy)]) {
      const Node& n = g.nodes[static_cast<size_t>(r)];
      const bool input_pass = n.op == &ops::kConv2dBackwardInputBlocked && n.inputs[0] == gy && n.inputs[1] != gy;
      const bool weight_pass = n.op == &ops::kConv2dBackwardWeightBlocked && n.inputs[1] == gy && n.inputs[0] != gy;
      const bool bias_sum = n.op == &ops::kChannelSumBlocked;
      ok = ok && !n.writes() && (((input_pass || weight_pass) && unpooling_winograd(n, gp)) || bias_sum);
    }
    if (!ok) continue;
    for (int r : readers[static_cast<size_t>(gy)]) {
      Node& n = g.nodes[static_cast<size_t>(r)];
      if (n.op == &ops::kConv2dBackwardInputBlocked) {
        n.op = &ops::kConv2dBackwardInputUnpoolBlocked;
        n.inputs = {gp, idx, n.inputs[1]};
      } else if (n.op == &ops::kConv2dBackwardWeightBlocked) {
        n.op = &ops::kConv2dBackwardWeightUnpoolBlocked;
        n.inputs = {n.inputs[0], gp, idx};
      } else {
        n.inputs = {gp};
      }
    }
    drop[k] = true;
    ++fused;
  }
  if (fused) remove_nodes(g, drop);
  return fused;
}

}  // namespace

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
    if (conv.op != &ops::kConv2dBlocked || conv.writes() || conv.inputs.size() != 3) continue;
    const std::string& algorithm = conv.attrs.get<std::string>("algorithm");
    if (algorithm != "winograd" && algorithm != "winograd_4x4") continue;
    const bool bf16 = ops::wants_bf16(conv.attrs);
    const ops::TensorMeta& x = g.values[static_cast<size_t>(conv.inputs[0])].meta;
    const bool plain_weight = g.values[static_cast<size_t>(conv.inputs[1])].meta.sizes.size() == 4;
    const bool f32_blocks_of_8 = !bf16 && plain_weight && x.sizes.size() == 5 && x.sizes[4] == 8;
    const std::string& act = conv.attrs.get<std::string>("activation");
    const int y = conv.outputs[0];
    const int p = readers.sole_reader(y);
    if (p < 0 || written[static_cast<size_t>(y)]) continue;
    const Node& pool = g.nodes[static_cast<size_t>(p)];
    const bool indices = pool.op == &ops::kMaxPool2dIndicesBlocked;
    if (pool.writes()) continue;
    if (indices ? !(act == "none" && (bf16 || f32_blocks_of_8))
                : !(pool.op == &ops::kMaxPool2dBlocked && (act == "none" || act == "relu") && f32_blocks_of_8))
      continue;
    bool same_window = true;
    for (const char* a : {"kernel", "stride", "padding", "dilation"})
      same_window = same_window && IntArrayRef(pool.attrs.ints(a)).equals(two_by_two.ints(a));
    if (!same_window || pool.attrs.get<bool>("ceil_mode")) continue;

    Node f;
    f.op = indices ? &ops::kConv2dMaxPool2x2Blocked : &ops::kConv2dMaxPool2x2ValuesBlocked;
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
  return fused + fuse_unpool_into_gradients(g);
}

}  // namespace tessera::graph
