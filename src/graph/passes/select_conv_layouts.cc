// Layout selection and epilogue fusion for the convolutions of frozen (inference) graphs.
//
// Eager conv2d converts its input to oneDNN's channel-blocked layout, re-lays out the
// weights, runs, and converts the output back, on every call; bias, ReLU and a residual
// add then each read and write the whole activation again. Here, once per graph:
//   - each float32 conv2d with constant weights becomes conv2d_blocked, its weights packed
//     by a pack_conv_weight node (which constant folding then runs once);
//   - a ReLU that alone reads its output, or an add of an earlier value followed by an
//     optional ReLU (ResNet's `relu(bn(conv(x)) + identity)`, batch norm already folded),
//     fuse into it as oneDNN post-ops;
//   - a conv whose input comes blocked reads it blocked, max_pool2d over a blocked value
//     pools blocked, so a chain of convolutions and pooling runs with no conversion
//     between them; to_blocked / from_blocked go only where a plain op meets a blocked one
//     (the first layer reads its few input channels plain).
// Frozen graphs only (weights constant, no writes), like conv-affine folding.
#include "graph/passes/passes.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/nn.h"
#include "tessera/ops.h"

namespace tessera::graph {
namespace {

class Rewriter {
 public:
  Rewriter(Graph& g, int64_t block) : g_(g), block_(block), readers_(g) {
    const size_t nv = g.values.size();
    twin_.assign(nv, -1);
    plain_.assign(nv, false);
    for (size_t i = 0; i < nv; ++i) plain_[i] = g.values[i].kind != ValueKind::Node;
  }

  int run() {
    std::vector<Node> old = std::move(g_.nodes);
    g_.nodes.clear();
    std::vector<bool> fused(old.size(), false);
    int lowered = 0;
    for (size_t k = 0; k < old.size(); ++k) {
      if (fused[k]) continue;
      Node& n = old[k];
      if (lower_conv(old, k, fused) || lower_max_pool(n)) {
        ++lowered;
        continue;
      }
      for (int id : n.inputs) ensure_plain(id, n.where);
      keep(std::move(n));
    }
    for (int id : g_.outputs) ensure_plain(id, "");
    return lowered;
  }

 private:
  const ops::TensorMeta& meta(int id) const { return g_.values[static_cast<size_t>(id)].meta; }
  bool is_constant(int id) const {
    const ValueKind k = g_.values[static_cast<size_t>(id)].kind;
    return k == ValueKind::Constant || k == ValueKind::Captured;
  }
  int sole_reader(int id) const { return readers_.sole_reader(id); }

  void grow() {
    twin_.resize(g_.values.size(), -1);
    plain_.resize(g_.values.size(), false);
  }
  // Appends a node whose outputs are new values.
  int emit(const ops::OpDef& op, ops::Attrs attrs, std::vector<int> inputs, const std::string& where) {
    Node n;
    n.op = &op;
    n.attrs = std::move(attrs);
    n.inputs = std::move(inputs);
    n.where = where;
    const int node = g_.add_node(std::move(n), {});
    grow();
    return g_.nodes[static_cast<size_t>(node)].outputs[0];
  }
  // Appends an original node, its outputs keeping their ids (and plain layout).
  void keep(Node n) {
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      Value& v = g_.values[static_cast<size_t>(n.outputs[o])];
      v.node = static_cast<int>(g_.nodes.size());
      plain_[static_cast<size_t>(n.outputs[o])] = true;
    }
    g_.nodes.push_back(std::move(n));
  }

  // Makes the plain form of `id` available (from its blocked twin), as value `id` itself.
  void ensure_plain(int id, const std::string& where) {
    if (plain_[static_cast<size_t>(id)]) return;
    const int blocked = twin_[static_cast<size_t>(id)];
    TESSERA_INTERNAL_ASSERT(blocked >= 0, "select_conv_layouts: value ", id, " has no form yet");
    Node n;
    n.op = &ops::kFromBlocked;
    n.attrs = {{"channels", meta(id).sizes[1]}};
    n.inputs = {blocked};
    n.outputs = {id};
    n.where = where;
    Value& v = g_.values[static_cast<size_t>(id)];
    v.node = static_cast<int>(g_.nodes.size());
    v.index = 0;
    plain_[static_cast<size_t>(id)] = true;
    g_.nodes.push_back(std::move(n));
  }
  int ensure_blocked(int id, const std::string& where) {
    if (twin_[static_cast<size_t>(id)] >= 0) return twin_[static_cast<size_t>(id)];
    ensure_plain(id, where);
    const int b = emit(ops::kToBlocked, {{"block", block_}}, {id}, where);
    twin_[static_cast<size_t>(id)] = b;
    return b;
  }

  // Whether a value may take part: float32, 4-D, channels a multiple of the block (so no
  // padded lanes ever reach a convolution's sum).
  bool blockable(int id) const {
    const ops::TensorMeta& m = meta(id);
    return m.dtype == DType::Float32 && m.sizes.size() == 4 && m.sizes[1] % block_ == 0 && numel_of(m.sizes) > 0;
  }

  bool lower_conv(std::vector<Node>& old, size_t k, std::vector<bool>& fused) {
    const Node& n = old[k];
    if (n.op != &ops::kConv2d || n.attrs.i("groups") != 1 || n.inputs.size() < 2) return false;
    const int x = n.inputs[0], w = n.inputs[1];
    const int y = n.outputs[0];
    if (!is_constant(w) || (n.inputs.size() == 3 && !is_constant(n.inputs[2]))) return false;
    if (!blockable(y) || meta(x).dtype != DType::Float32 || meta(w).dtype != DType::Float32) return false;
    const int64_t c = meta(x).sizes[1], o = meta(y).sizes[1];
    const bool blocked_input = twin_[static_cast<size_t>(x)] >= 0 || blockable(x);
    // A plain input: the first layer's 1 or 3 channels, which oneDNN reads as they are.
    if (!blocked_input && c > block_) return false;

    // The epilogue: [add(y, earlier value)] then [relu], each the sole reader of the last.
    int last = y, residual = -1;
    bool relu = false;
    std::vector<size_t> absorbed;
    int r = sole_reader(last);
    if (r >= 0 && old[static_cast<size_t>(r)].op == &ops::kAdd && old[static_cast<size_t>(r)].into < 0 &&
        old[static_cast<size_t>(r)].attrs.items().empty()) {
      const Node& add = old[static_cast<size_t>(r)];
      const int other = add.inputs[0] == last ? add.inputs[1] : add.inputs[0];
      const Value& ov = g_.values[static_cast<size_t>(other)];
      // Computed already (by an input, a constant or the nodes rewritten so far): the
      // residual must exist before this conv runs.
      const bool earlier = ov.kind != ValueKind::Node || twin_[static_cast<size_t>(other)] >= 0 ||
                           plain_[static_cast<size_t>(other)];
      if (other != last && earlier && IntArrayRef(meta(other).sizes).equals(meta(y).sizes) &&
          meta(other).dtype == DType::Float32 && IntArrayRef(meta(add.outputs[0]).sizes).equals(meta(y).sizes)) {
        residual = other;
        absorbed.push_back(static_cast<size_t>(r));
        last = add.outputs[0];
        r = sole_reader(last);
      }
    }
    if (r >= 0 && old[static_cast<size_t>(r)].op == &ops::kRelu && old[static_cast<size_t>(r)].into < 0) {
      relu = true;
      absorbed.push_back(static_cast<size_t>(r));
      last = old[static_cast<size_t>(r)].outputs[0];
    }

    const std::string& where = n.where;
    const int xin = blocked_input ? ensure_blocked(x, where) : (ensure_plain(x, where), x);
    // Winograd reads the weight plain (the backend transforms it once); direct, packed.
    const bool wino = winograd(n, blocked_input);
    const int packed =
        wino ? w : emit(ops::kPackConvWeight, {{"block", block_}, {"blocked_input", blocked_input}}, {w}, where);
    int bias = n.inputs.size() == 3 ? n.inputs[2] : -1;
    if (bias < 0) {
      Value v;
      v.kind = ValueKind::Constant;
      v.tensor = zeros({o}, kFloat32);
      v.meta = {Shape{o}, DType::Float32};
      bias = g_.add_value(std::move(v));
      grow();
    }
    std::vector<int> inputs{xin, packed, bias};
    if (residual >= 0) inputs.push_back(ensure_blocked(residual, where));
    ops::Attrs attrs{{"stride", n.attrs.ints("stride")},
                     {"padding", n.attrs.ints("padding")},
                     {"dilation", n.attrs.ints("dilation")},
                     {"groups", int64_t{1}},
                     {"in_channels", c},
                     {"out_channels", o},
                     {"activation", std::string(relu ? "relu" : "none")},
                     {"algorithm", std::string(wino ? "winograd" : "direct")},
                     {"precision", n.attrs.has("precision") ? n.attrs.get<std::string>("precision") : std::string("float32")}};
    twin_[static_cast<size_t>(last)] = emit(ops::kConv2dBlocked, std::move(attrs), std::move(inputs), where);
    for (size_t a : absorbed) fused[a] = true;
    return true;
  }

  // Winograd for the 3x3 stride-1 convolutions between blocked layers: measured on
  // resnet18_infer_b1 (AVX-512, 1 thread) its 3x3 layers take 0.36-0.53 of the direct
  // kernels' time.
  bool winograd(const Node& n, bool blocked_input) const {
    const ops::ConvGeometry geo = ops::conv_geometry(meta(n.inputs[0]).sizes, meta(n.inputs[1]).sizes, n.attrs);
    return ops::winograd_applies(geo, blocked_input);
  }

  bool lower_max_pool(const Node& n) {
    if (n.op != &ops::kMaxPool2d) return false;
    const int x = n.inputs[0];
    const int indices = n.outputs[1];
    if (twin_[static_cast<size_t>(x)] < 0 || readers_.count(indices) != 0 || readers_.is_output(indices))
      return false;
    twin_[static_cast<size_t>(n.outputs[0])] = emit(ops::kMaxPool2dBlocked, n.attrs, {twin_[static_cast<size_t>(x)]}, n.where);
    return true;
  }

  Graph& g_;
  int64_t block_;
  ValueReaders readers_;  // of the graph as it came in
  std::vector<int> twin_;    // per value: the id of its blocked form, or -1
  std::vector<bool> plain_;  // per value: its plain form is computed by the nodes so far
};

}  // namespace

int select_conv_layouts(Graph& g) {
  const int64_t block = ops::conv_channel_block();
  if (block == 0 || g.has_writes()) return 0;
  bool any = false;
  for (const Node& n : g.nodes) any = any || n.op == &ops::kConv2d;
  if (!any) return 0;
  return Rewriter(g, block).run();
}

}  // namespace tessera::graph
