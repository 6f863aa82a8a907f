// with_batch_size: the graph traced at one batch size, re-derived for another without
// running the user's code again (CompileOptions::dynamic_batch).
//
// The batch is dim 0 of every graph input. A value is batch-carrying when its dim 0 was the
// old batch and comes out as the new one once the shape rules run on the new input sizes.
// Ops whose attributes spell out a whole shape (view/reshape "shape", expand and factory
// "sizes", the gradient ops' "input_size", the view-gradient "base_sizes") had the batch
// written into them by the trace: a leading entry equal to the old batch is rewritten.
// Where the op's first input does not carry the batch (a factory: the zeros a gather's
// gradient scatters into, the expand of a mean's gradient) that is a guess, refused when
// the old batch was 1 (then a leading 1 is as likely a plain 1). as_strided of a tensor the
// batch changes is rewritten only where it permutes the whole tensor's dims. A dim of any value may only go from
// the old batch to the new one. Anything else (a rule that rejects the new sizes, a data-dependent shape) is a
// refusal: the caller traces again, which is always right.
#include <optional>
#include <string_view>

#include "graph/passes/passes.h"
#include "ops/view.h"

namespace tessera::graph {
namespace {

bool spells_a_shape(std::string_view attr) {
  return attr == "shape" || attr == "sizes" || attr == "input_size" || attr == "base_sizes";
}

// as_strided(x) {sizes, strides, offset 0} that views contiguous x [in] as a permutation
// of its dims: the sizes and strides of the same permutation of x with sizes `now`. nullopt
// for any other view, or where two dims look alike and the permutation is ambiguous.
std::optional<std::pair<std::vector<int64_t>, std::vector<int64_t>>> permuted_view(const Shape& in, const Shape& now,
                                                                                   const ops::Attrs& attrs) {
  const std::vector<int64_t>& sizes = attrs.ints("sizes");
  const std::vector<int64_t>& strides = attrs.ints("strides");
  if (attrs.i("offset") != 0 || sizes.size() != in.size() || strides.size() != in.size()) return std::nullopt;
  const Shape old_strides = contiguous_strides(in), new_strides = contiguous_strides(now);
  std::vector<int64_t> new_sizes(sizes.size()), new_view_strides(sizes.size());
  std::vector<bool> used(in.size(), false);
  for (size_t i = 0; i < sizes.size(); ++i) {
    int match = -1;
    for (size_t d = 0; d < in.size(); ++d) {
      if (sizes[i] != in[d] || strides[i] != old_strides[d]) continue;
      if (match >= 0) return std::nullopt;  // ambiguous
      match = static_cast<int>(d);
    }
    if (match < 0 || used[static_cast<size_t>(match)]) return std::nullopt;
    used[static_cast<size_t>(match)] = true;
    new_sizes[i] = now[static_cast<size_t>(match)];
    new_view_strides[i] = new_strides[static_cast<size_t>(match)];
  }
  return std::make_pair(std::move(new_sizes), std::move(new_view_strides));
}

// The value whose memory `id` views: `id` itself unless a view (or as_strided) made it.
int view_base(const Graph& g, int id) {
  while (g.values[static_cast<size_t>(id)].kind == ValueKind::Node) {
    const Node& maker = g.nodes[static_cast<size_t>(g.values[static_cast<size_t>(id)].node)];
    if (!maker.aliases_input()) break;
    id = maker.inputs[0];
  }
  return id;
}

}  // namespace

std::optional<Graph> with_batch_size(const Graph& g, int64_t batch, std::string* why_not) {
  auto refuse = [&](const Node* n, const std::string& reason) -> std::optional<Graph> {
    if (why_not != nullptr) *why_not = n == nullptr ? reason : detail::concat(n->op->name, ": ", reason);
    return std::nullopt;
  };
  if (g.inputs.empty() || batch < 0) return refuse(nullptr, "no inputs");
  const Shape& first = g.values[static_cast<size_t>(g.inputs[0])].meta.sizes;
  const int64_t old = first.empty() ? -1 : first[0];
  for (int id : g.inputs) {
    const Shape& s = g.values[static_cast<size_t>(id)].meta.sizes;
    if (s.empty() || s[0] != old) return refuse(nullptr, "the inputs do not share a dim 0");
  }
  Graph out = g;
  std::vector<bool> carries(out.values.size(), false);
  for (int id : out.inputs) {
    out.values[static_cast<size_t>(id)].meta.sizes[0] = batch;
    carries[static_cast<size_t>(id)] = true;
  }
  try {
    for (Node& n : out.nodes) {
      if (n.op->flags & ops::kDataDependentShape) return refuse(&n, "its output shape depends on values");
      const bool batched_input = !n.inputs.empty() && carries[static_cast<size_t>(n.inputs[0])];
      ops::Attrs attrs;
      if (n.op == &ops::kAsStrided) {
        // Its strides address the storage: the memory of the tensor its input views.
        const int base = view_base(g, n.inputs[0]);
        const Shape& in = g.values[static_cast<size_t>(base)].meta.sizes;
        const Shape& now = out.values[static_cast<size_t>(base)].meta.sizes;
        if (IntArrayRef(in).equals(now)) continue;  // the same view of the same tensor (a weight's transpose)
        // Of memory the batch changed: only a permutation of the whole base tensor's dims (a
        // saved output viewed again, an activation transposed for a weight gradient),
        // re-derived from the new sizes. (A graph input is taken as contiguous, as traced.)
        const auto view = permuted_view(in, now, n.attrs);
        if (!view) return refuse(&n, "a view by strides of a tensor the batch changes");
        for (const ops::Attr& a : n.attrs.items())
          attrs.add(a.name == "sizes" ? ops::Attr{a.name, view->first}
                    : a.name == "strides" ? ops::Attr{a.name, view->second}
                                          : a);
      } else {
        for (const ops::Attr& a : n.attrs.items()) {
          const auto* ints = std::get_if<std::vector<int64_t>>(&a.value);
          if (ints == nullptr || !spells_a_shape(a.name) || ints->empty() || (*ints)[0] != old) {
            attrs.add(a);
            continue;
          }
          if (!batched_input && old == 1) return refuse(&n, "a leading 1 that may not be the batch");
          std::vector<int64_t> v = *ints;
          v[0] = batch;
          attrs.add({a.name, std::move(v)});
        }
      }
      n.attrs = std::move(attrs);
      std::vector<ops::InputMeta> metas;
      for (int id : n.inputs) metas.push_back(input_meta(out, id));
      const ops::InferResult r = ops::infer_shapes(*n.op, metas, n.attrs);
      if (r.outputs.size() != n.outputs.size()) return refuse(&n, "another number of outputs");
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        Value& v = out.values[static_cast<size_t>(n.outputs[o])];
        const ops::TensorMeta& m = r.outputs[o];
        if (m.dtype != v.meta.dtype || m.sizes.size() != v.meta.sizes.size())
          return refuse(&n, "the output changes dtype or rank");
        // A dim may only go from the old batch to the new one (a transposed activation
        // carries it in dim 1); one that becomes anything else came from arithmetic on
        // sizes (B*T) this cannot follow.
        for (size_t d = 0; d < m.sizes.size(); ++d)
          if (m.sizes[d] != v.meta.sizes[d] && (v.meta.sizes[d] != old || m.sizes[d] != batch))
            return refuse(&n, "an output dim changes to a size other than the batch");
        if (!m.sizes.empty() && m.sizes[0] != v.meta.sizes[0]) carries[static_cast<size_t>(n.outputs[o])] = true;
        v.meta = m;
      }
    }
  } catch (const Error& e) {
    return refuse(nullptr, e.what());  // a shape rule rejected the new sizes
  }
  out.verify();
  return out;
}

}  // namespace tessera::graph
