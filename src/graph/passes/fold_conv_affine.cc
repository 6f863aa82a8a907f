// Folding per-channel affine ops into the convolution before them: conv2d followed by
// add/sub/mul/div with a per-channel (or scalar) constant becomes one conv2d with new
// weights and bias. Batch norm in eval mode is exactly such a chain once its running
// statistics are constants (x - mean, * rsqrt(var + eps), * weight, + bias), so this is
// batch-norm folding, and it also folds any scale or shift a model applies by hand.
//
// Only for frozen graphs (inference): the weights must be constants, and the graph must
// not write (a train step updates the weights this would bake in).
#include "graph/passes/passes.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "tessera/grad_mode.h"
#include "tessera/ops.h"

namespace tessera::graph {
namespace {

bool is_constant(const Graph& g, int id) {
  const ValueKind k = g.values[static_cast<size_t>(id)].kind;
  return k == ValueKind::Constant || k == ValueKind::Captured;
}

// The per-channel vector [C] that `k` is when broadcast against a conv output [N, C, ...]
// (k is a scalar, or has size C at the channel position and 1 elsewhere), else undefined.
Tensor per_channel(const Tensor& k, const ops::TensorMeta& out) {
  const int64_t rank = static_cast<int64_t>(out.sizes.size());
  const int64_t channels = out.sizes[1];
  if (!is_floating(k.dtype())) return Tensor();
  if (k.numel() == 1) return full({channels}, read_as_double(k, 0), out.dtype);
  if (k.dim() > rank || k.numel() != channels) return Tensor();
  for (int64_t d = 0; d < k.dim(); ++d) {
    const int64_t pos = rank - k.dim() + d;  // right-aligned, as broadcasting reads it
    const int64_t want = pos == 1 ? channels : 1;
    if (k.size(d) != want) return Tensor();
  }
  return k.reshape({channels}).to(out.dtype);
}

int add_constant(Graph& g, const Tensor& t) {
  Value v;
  v.kind = ValueKind::Constant;
  v.meta = {Shape(t.sizes()), t.dtype()};
  v.tensor = t;
  return g.add_value(std::move(v));
}

}  // namespace

int fold_conv_affine(Graph& g) {
  if (g.has_writes()) return 0;
  NoGradGuard no_grad;  // weights are parameters that may require grad: no tape here
  // Readers of each value (node indices), and whether a graph output is it.
  std::vector<int> readers(g.values.size(), 0), reader(g.values.size(), -1);
  std::vector<bool> is_output(g.values.size(), false);
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (int id : g.nodes[k].inputs) {
      ++readers[static_cast<size_t>(id)];
      reader[static_cast<size_t>(id)] = static_cast<int>(k);
    }
  for (int id : g.outputs) is_output[static_cast<size_t>(id)] = true;

  std::vector<bool> drop(g.nodes.size(), false);
  int folded = 0;
  for (size_t c = 0; c < g.nodes.size(); ++c) {
    Node& conv = g.nodes[c];
    if (conv.op != &ops::kConv2d || conv.inputs.size() < 2) continue;
    if (!is_constant(g, conv.inputs[1]) || (conv.inputs.size() == 3 && !is_constant(g, conv.inputs[2]))) continue;
    const int out = conv.outputs[0];
    const ops::TensorMeta meta = g.values[static_cast<size_t>(out)].meta;
    if (!is_floating(meta.dtype) || meta.sizes.size() < 2) continue;
    Tensor w = g.values[static_cast<size_t>(conv.inputs[1])].tensor;
    Tensor b = conv.inputs.size() == 3 ? g.values[static_cast<size_t>(conv.inputs[2])].tensor
                                       : zeros({meta.sizes[1]}, meta.dtype);
    bool changed = false;
    for (;;) {
      if (readers[static_cast<size_t>(out)] != 1 || is_output[static_cast<size_t>(out)]) break;
      const int e_index = reader[static_cast<size_t>(out)];
      Node& e = g.nodes[static_cast<size_t>(e_index)];
      const bool mul = e.op == &ops::kMul, div = e.op == &ops::kDiv;
      const bool add = e.op == &ops::kAdd, sub = e.op == &ops::kSub;
      if (!(mul || div || add || sub) || e.into >= 0 || !e.attrs.items().empty()) break;
      const bool first = e.inputs[0] == out;
      const int other = first ? e.inputs[1] : e.inputs[0];
      if (other == out || !is_constant(g, other)) break;
      if ((div || sub) && !first) break;  // k / conv, k - conv: not affine in the weights
      const ops::TensorMeta& e_meta = g.values[static_cast<size_t>(e.outputs[0])].meta;
      if (e_meta.dtype != meta.dtype || !IntArrayRef(e_meta.sizes).equals(meta.sizes)) break;
      const Tensor k = per_channel(g.values[static_cast<size_t>(other)].tensor, meta);
      if (!k.defined()) break;
      Shape wshape(w.dim(), 1);
      wshape[0] = meta.sizes[1];
      if (mul) {
        w = tessera::mul(w, k.reshape(wshape));
        b = tessera::mul(b, k);
      } else if (div) {
        w = tessera::div(w, k.reshape(wshape));
        b = tessera::div(b, k);
      } else if (add) {
        b = tessera::add(b, k);
      } else {
        b = tessera::sub(b, k);
      }
      // conv's output now stands for e's: e's readers read it.
      const int e_out = e.outputs[0];
      replace_uses(g, e_out, out);
      readers[static_cast<size_t>(out)] = readers[static_cast<size_t>(e_out)];
      reader[static_cast<size_t>(out)] = reader[static_cast<size_t>(e_out)];
      is_output[static_cast<size_t>(out)] = is_output[static_cast<size_t>(e_out)];
      drop[static_cast<size_t>(e_index)] = true;
      changed = true;
      ++folded;
    }
    if (changed) {
      const int wid = add_constant(g, w.contiguous());
      const int bid = add_constant(g, b.contiguous());
      Node& conv_now = g.nodes[c];  // add_value may not move nodes, but re-take the reference
      conv_now.inputs = {conv_now.inputs[0], wid, bid};
    }
  }
  if (folded) remove_nodes(g, drop);
  return folded;
}

}  // namespace tessera::graph
