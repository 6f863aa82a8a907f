// Layout selection and epilogue fusion for the convolutions of compiled graphs.
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
// Frozen graphs (weights constant, no writes) pack their weights once, like conv-affine
// folding does. A training step (select_training_conv_layouts) keeps the same chains
// blocked through its backward pass too:
//   - the forward convolutions as above, their weights laid out by the backend each step
//     (the first layer's packed by a pack_conv_weight node: they change every step);
//   - max_pool2d over a blocked value records its indices blocked, and its gradient
//     scatters a blocked gradient;
//   - the gradient passes of a convolution read a blocked output gradient and write a
//     blocked input gradient (its weight gradient stays plain, for the optimizer), and the
//     bias's gradient sums a blocked gradient;
//   - elementwise ops whose every input is blocked (ReLU, its gradient, a gradient sum)
//     run blocked: channels are a multiple of the block, so there are no padded lanes.
// Each saves the conversion oneDNN would otherwise run inside every convolution pass: a
// measured ~5 ms of CNN28's 47 ms step at 1 thread. A value some node writes (or a view of
// it) is never given a blocked twin: the write would leave the twin stale.
#include <algorithm>
#include <map>

#include "graph/passes/passes.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/view.h"
#include "tessera/ops.h"

namespace tessera::graph {
namespace {

class Rewriter {
 public:
  Rewriter(Graph& g, int64_t block, bool training) : g_(g), block_(block), training_(training), readers_(g) {
    const size_t nv = g.values.size();
    twin_.assign(nv, -1);
    plain_.assign(nv, false);
    written_.assign(nv, false);
    for (size_t i = 0; i < nv; ++i) plain_[i] = g.values[i].kind != ValueKind::Node;
    // Values written, directly or through a view (walked backwards: a view's writes reach
    // what it views). A node that mutates its inputs counts as writing all of them.
    for (size_t k = g.nodes.size(); k-- > 0;) {
      const Node& n = g.nodes[k];
      if (n.into >= 0) written_[static_cast<size_t>(n.into)] = true;
      if (n.op->mutates != 0)
        for (int id : n.inputs) written_[static_cast<size_t>(id)] = true;
      if (n.aliases_input() && !n.inputs.empty())
        for (int o : n.outputs)
          if (written_[static_cast<size_t>(o)]) written_[static_cast<size_t>(n.inputs[0])] = true;
    }
    readers_of_.assign(nv, {});
    for (size_t k = 0; k < g.nodes.size(); ++k)
      for (int id : g.nodes[k].inputs) readers_of_[static_cast<size_t>(id)].push_back(static_cast<int>(k));
  }

  int run() {
    std::vector<Node> old = std::move(g_.nodes);
    g_.nodes.clear();
    old_nodes_ = &old;
    std::vector<bool> fused(old.size(), false);
    int lowered = 0;
    for (size_t k = 0; k < old.size(); ++k) {
      if (fused[k]) continue;
      Node& n = old[k];
      if (training_ && defer_identity_view(n)) continue;
      if (lower_conv(old, k, fused) || lower_max_pool(n) ||
          (training_ && (lower_conv_backward(n) || lower_max_pool_backward(n) || lower_bias_gradient(n) ||
                         lower_elementwise(n)))) {
        ++lowered;
        continue;
      }
      for (int id : n.inputs) ensure_plain(id, n.where);
      if (n.into >= 0) ensure_plain(n.into, n.where);
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
  std::vector<int> emit_all(const ops::OpDef& op, ops::Attrs attrs, std::vector<int> inputs, const std::string& where) {
    Node n;
    n.op = &op;
    n.attrs = std::move(attrs);
    n.inputs = std::move(inputs);
    n.where = where;
    const int node = g_.add_node(std::move(n), {});
    grow();
    return g_.nodes[static_cast<size_t>(node)].outputs;
  }
  int emit(const ops::OpDef& op, ops::Attrs attrs, std::vector<int> inputs, const std::string& where) {
    return emit_all(op, std::move(attrs), std::move(inputs), where)[0];
  }
  // Appends a node of another op that computes an original node's (plain) outputs.
  void emit_as(const ops::OpDef& op, ops::Attrs attrs, std::vector<int> inputs, Node& original) {
    Node n;
    n.op = &op;
    n.attrs = std::move(attrs);
    n.inputs = std::move(inputs);
    n.outputs = original.outputs;
    n.where = original.where;
    keep(std::move(n));
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
    auto view = deferred_.find(id);
    if (view != deferred_.end()) {  // a view of a blocked value, which a plain reader reads after all
      Node v = std::move(view->second);
      deferred_.erase(view);
      ensure_plain(v.inputs[0], where);
      keep(std::move(v));
      return;
    }
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
    return m.dtype == DType::Float32 && m.sizes.size() == 4 && m.sizes[1] % block_ == 0 && numel_of(m.sizes) > 0 &&
           !written_[static_cast<size_t>(id)];
  }
  bool has_twin(int id) const { return twin_[static_cast<size_t>(id)] >= 0; }

  bool lower_conv(std::vector<Node>& old, size_t k, std::vector<bool>& fused) {
    const Node& n = old[k];
    if (n.op != &ops::kConv2d || n.attrs.i("groups") != 1 || n.inputs.size() < 2) return false;
    const int x = n.inputs[0], w = n.inputs[1];
    const int y = n.outputs[0];
    if (!training_ && (!is_constant(w) || (n.inputs.size() == 3 && !is_constant(n.inputs[2])))) return false;
    if (!blockable(y) || meta(x).dtype != DType::Float32 || meta(w).dtype != DType::Float32) return false;
    if (n.inputs.size() == 3 && meta(n.inputs[2]).dtype != DType::Float32) return false;
    const int64_t c = meta(x).sizes[1], o = meta(y).sizes[1];
    const bool blocked_input = has_twin(x) || blockable(x);
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
      if (other != last && earlier && !written_[static_cast<size_t>(add.outputs[0])] &&
          (!training_ || blockable(other) || has_twin(other)) && IntArrayRef(meta(other).sizes).equals(meta(y).sizes) &&
          meta(other).dtype == DType::Float32 && IntArrayRef(meta(add.outputs[0]).sizes).equals(meta(y).sizes)) {
        residual = other;
        absorbed.push_back(static_cast<size_t>(r));
        last = add.outputs[0];
        r = sole_reader(last);
      }
    }
    if (r >= 0 && old[static_cast<size_t>(r)].op == &ops::kRelu && old[static_cast<size_t>(r)].into < 0 &&
        !written_[static_cast<size_t>(old[static_cast<size_t>(r)].outputs[0])]) {
      relu = true;
      absorbed.push_back(static_cast<size_t>(r));
      last = old[static_cast<size_t>(r)].outputs[0];
    }

    const std::string& where = n.where;
    const int xin = blocked_input ? ensure_blocked(x, where) : (ensure_plain(x, where), x);
    // Winograd reads the weight plain (the backend transforms it once); direct, packed.
    // A training step's weights change every step: a blocked input reads them plain (the
    // backend lays them out per step, as eager does), a plain input packed by a node.
    const bool wino = training_ ? wants_winograd(n) && winograd(n, blocked_input) : winograd(n, blocked_input);
    const int packed = wino || (training_ && blocked_input)
                           ? w
                           : emit(ops::kPackConvWeight, {{"block", block_}, {"blocked_input", blocked_input}}, {w}, where);
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
                     {"algorithm", std::string(!wino ? "direct" : training_ ? "winograd" : "winograd_4x4")},
                     {"precision", n.attrs.has("precision") ? n.attrs.get<std::string>("precision") : std::string("float32")}};
    twin_[static_cast<size_t>(last)] = emit(ops::kConv2dBlocked, std::move(attrs), std::move(inputs), where);
    for (size_t a : absorbed) fused[a] = true;
    return true;
  }

  // Winograd for the 3x3 stride-1 convolutions between blocked layers: measured on
  // resnet18_infer_b1 (AVX-512, 1 thread) its 3x3 layers take 0.36-0.53 of the direct
  // kernels' time. Inference asks for F(4x4, 3x3) ("winograd_4x4": 1.78x fewer products
  // than F(2x2, 3x3), rounding a little more; backends/cpu/winograd_f32.h); a training
  // step keeps the F(2x2, 3x3) that eager's gradients use.
  bool winograd(const Node& n, bool blocked_input) const {
    const ops::ConvGeometry geo = ops::conv_geometry(meta(n.inputs[0]).sizes, meta(n.inputs[1]).sizes, n.attrs);
    return ops::winograd_applies(geo, blocked_input);
  }

  // A view that is its input: same sizes and dtype, and for as_strided contiguous strides
  // from offset 0 (autograd reads the tensors it saved through such views). Its input is a
  // node's fresh, contiguous output whenever it has a twin.
  bool is_identity_view(const Node& n) const {
    if (n.outputs.size() != 1 || n.inputs.empty() || n.into >= 0) return false;
    const ops::TensorMeta &in = meta(n.inputs[0]), &out = meta(n.outputs[0]);
    if (in.dtype != out.dtype || !IntArrayRef(in.sizes).equals(out.sizes)) return false;
    if (n.op == &ops::kView) return true;
    if (n.op != &ops::kAsStrided || n.attrs.i("offset") != 0) return false;
    const std::vector<int64_t>& strides = n.attrs.ints("strides");
    int64_t expect = 1;
    for (size_t d = out.sizes.size(); d-- > 0;) {
      if (out.sizes[d] != 1 && strides[d] != expect) return false;
      expect *= out.sizes[d];
    }
    return true;
  }
  // Such a view of a blocked value reads its twin; the view itself runs only if a plain
  // reader needs it (ensure_plain).
  bool defer_identity_view(Node& n) {
    if (!is_identity_view(n) || !has_twin(n.inputs[0]) || written_[static_cast<size_t>(n.outputs[0])]) return false;
    twin_[static_cast<size_t>(n.outputs[0])] = twin_[static_cast<size_t>(n.inputs[0])];
    deferred_.emplace(n.outputs[0], std::move(n));
    return true;
  }
  // Whether every reader of `indices` (through identity views) is a max_pool2d_backward:
  // blocked indices can never be converted back (from_blocked is for floating values).
  bool read_by_pool_backward_only(int indices) const {
    if (readers_.is_output(indices) || written_[static_cast<size_t>(indices)]) return false;
    for (int r : readers_of_[static_cast<size_t>(indices)]) {
      // (readers come after the pooling: run() has not moved them yet)
      const Node& reader = old_nodes_->at(static_cast<size_t>(r));
      if (reader.op == &ops::kMaxPool2dBackward && reader.inputs.size() == 2 && reader.inputs[1] == indices &&
          reader.inputs[0] != indices)
        continue;
      if (!is_identity_view(reader) || !read_by_pool_backward_only(reader.outputs[0])) return false;
    }
    return true;
  }

  static bool wants_winograd(const Node& n) {
    return n.attrs.has("algorithm") && n.attrs.get<std::string>("algorithm") == "winograd";
  }

  // max_pool2d's window, without its "indices" choice (the blocked forms have fixed outputs).
  static ops::Attrs pool_window(const ops::Attrs& a) {
    return {{"kernel", a.ints("kernel")},
            {"stride", a.ints("stride")},
            {"padding", a.ints("padding")},
            {"dilation", a.ints("dilation")},
            {"ceil_mode", a.b("ceil_mode")}};
  }

  bool lower_max_pool(const Node& n) {
    if (n.op != &ops::kMaxPool2d || n.into >= 0) return false;
    const int x = n.inputs[0];
    const int values = n.outputs[0], indices = n.outputs[1];
    if (!has_twin(x) || written_[static_cast<size_t>(values)]) return false;
    if (readers_.count(indices) == 0 && !readers_.is_output(indices)) {
      twin_[static_cast<size_t>(values)] = emit(ops::kMaxPool2dBlocked, pool_window(n.attrs), {twin_[static_cast<size_t>(x)]}, n.where);
      return true;
    }
    // A training step: the indices stay blocked, for a max_pool2d_backward that reads
    // them (each reader is one: the pass rewrites those too).
    if (!training_ || !read_by_pool_backward_only(indices)) return false;
    const std::vector<int> outs = emit_all(ops::kMaxPool2dIndicesBlocked, pool_window(n.attrs), {twin_[static_cast<size_t>(x)]}, n.where);
    twin_[static_cast<size_t>(values)] = outs[0];
    twin_[static_cast<size_t>(indices)] = outs[1];
    return true;
  }

  bool lower_max_pool_backward(Node& n) {
    if (n.op != &ops::kMaxPool2dBackward || n.into >= 0) return false;
    const int gy = n.inputs[0], indices = n.inputs[1], gx = n.outputs[0];
    if (!has_twin(indices) || written_[static_cast<size_t>(gx)] || !(has_twin(gy) || blockable(gy))) return false;
    const int blocked_gy = ensure_blocked(gy, n.where);
    twin_[static_cast<size_t>(gx)] =
        emit(ops::kMaxPool2dBackwardBlocked, n.attrs, {blocked_gy, twin_[static_cast<size_t>(indices)]}, n.where);
    return true;
  }

  // conv2d_backward_input / _weight reading a blocked output gradient.
  bool lower_conv_backward(Node& n) {
    const bool data = n.op == &ops::kConv2dBackwardInput;
    if ((!data && n.op != &ops::kConv2dBackwardWeight) || n.into >= 0 || n.attrs.i("groups") != 1) return false;
    const int out = n.outputs[0];
    if (meta(n.inputs[0]).dtype != DType::Float32 || meta(n.inputs[1]).dtype != DType::Float32 ||
        written_[static_cast<size_t>(out)])
      return false;
    if (data) {
      const int gy = n.inputs[0], w = n.inputs[1];
      if (!has_twin(gy) || !blockable(out)) return false;
      twin_[static_cast<size_t>(out)] =
          emit(ops::kConv2dBackwardInputBlocked, n.attrs, {twin_[static_cast<size_t>(gy)], w}, n.where);
      return true;
    }
    const int x = n.inputs[0], gy = n.inputs[1];
    if (!has_twin(gy) || numel_of(meta(x).sizes) == 0) return false;
    // x blocked when it is already; else plain (the first layer's image), which oneDNN
    // reads as it is or lays out itself.
    int xin = x;
    if (has_twin(x)) {
      xin = twin_[static_cast<size_t>(x)];
    } else {
      ensure_plain(x, n.where);
    }
    emit_as(ops::kConv2dBackwardWeightBlocked, n.attrs, {xin, twin_[static_cast<size_t>(gy)]}, n);
    return true;
  }

  // A conv bias's gradient, sum(gy, [0, 2, 3]), over a blocked gy.
  bool lower_bias_gradient(Node& n) {
    if (n.op != &ops::kSum || n.into >= 0 || !has_twin(n.inputs[0]) || n.attrs.b("keepdim") || n.attrs.has("dtype") ||
        !n.attrs.has("dims"))
      return false;
    std::vector<int64_t> dims = n.attrs.ints("dims");
    std::sort(dims.begin(), dims.end());
    if (dims != std::vector<int64_t>{0, 2, 3}) return false;
    emit_as(ops::kChannelSumBlocked, {{"channels", meta(n.inputs[0]).sizes[1]}}, {twin_[static_cast<size_t>(n.inputs[0])]},
            n);
    return true;
  }

  // An elementwise op whose every input has a blocked twin of the output's shape.
  bool lower_elementwise(Node& n) {
    if ((n.op->flags & ops::kElementwise) == 0 || n.into >= 0 || n.writes() || n.is_random() ||
        n.outputs.size() != 1 || n.inputs.empty())
      return false;
    const int out = n.outputs[0];
    if (!blockable(out)) return false;
    std::vector<int> inputs;
    for (int id : n.inputs) {
      if (!has_twin(id) || meta(id).dtype != DType::Float32 || !IntArrayRef(meta(id).sizes).equals(meta(out).sizes))
        return false;
      inputs.push_back(twin_[static_cast<size_t>(id)]);
    }
    twin_[static_cast<size_t>(out)] = emit(*n.op, n.attrs, std::move(inputs), n.where);
    return true;
  }

  Graph& g_;
  int64_t block_;
  bool training_;
  ValueReaders readers_;  // of the graph as it came in
  std::vector<bool> written_;  // per value: some node writes it, or a view of it
  std::vector<std::vector<int>> readers_of_;  // per value: the nodes (as they came in) that read it
  const std::vector<Node>* old_nodes_ = nullptr;  // those nodes, while run() rewrites them
  std::map<int, Node> deferred_;  // identity views of blocked values, not run (yet)
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
  return Rewriter(g, block, false).run();
}

int select_training_conv_layouts(Graph& g) {
  const int64_t block = ops::conv_channel_block();
  if (block == 0) return 0;
  bool any = false;
  for (const Node& n : g.nodes) any = any || n.op == &ops::kConv2dBackwardInput || n.op == &ops::kConv2dBackwardWeight;
  if (!any) return 0;
  return Rewriter(g, block, true).run();
}

}  // namespace tessera::graph
