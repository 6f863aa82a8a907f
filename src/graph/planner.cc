#include "graph/planner.h"

#include <algorithm>
#include <numeric>

#include "ops/op_writes.h"

namespace tessera::graph {
namespace {

int64_t aligned(int64_t bytes) {
  return (bytes + MemoryPlan::kAlignment - 1) / MemoryPlan::kAlignment * MemoryPlan::kAlignment;
}

bool overlap_in_time(const MemoryPlan::Buffer& a, const MemoryPlan::Buffer& b) {
  return a.first <= b.last && b.first <= a.last;
}

void reuse_in_place(const Graph& g, MemoryPlan& plan, const std::vector<bool>& escapes) {
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    if (!(n.op->flags & ops::kElementwise) || n.outputs.size() != 1 || n.writes()) continue;
    const int out = n.outputs[0];
    const int bo = plan.buffer_of[static_cast<size_t>(out)];
    if (bo < 0 || escapes[static_cast<size_t>(bo)]) continue;  // a fresh output: its own buffer
    const ops::TensorMeta& om = g.values[static_cast<size_t>(out)].meta;
    for (int in : n.inputs) {
      const int bi = plan.buffer_of[static_cast<size_t>(in)];
      if (bi < 0 || bi == bo || escapes[static_cast<size_t>(bi)]) continue;
      MemoryPlan::Buffer& src = plan.buffers[static_cast<size_t>(bi)];
      const ops::TensorMeta& im = g.values[static_cast<size_t>(in)].meta;
      if (src.last != static_cast<int>(k) || im.dtype != om.dtype || !IntArrayRef(im.sizes).equals(om.sizes)) continue;
      // The input must be its buffer's own value, not a view of a part of it.
      const Value& iv = g.values[static_cast<size_t>(in)];
      if (iv.kind != ValueKind::Node) continue;
      const Node& maker = g.nodes[static_cast<size_t>(iv.node)];
      if (maker.aliases_input() || maker.writes()) continue;
      src.last = plan.buffers[static_cast<size_t>(bo)].last;
      for (int& b : plan.buffer_of)
        if (b == bo) b = bi;
      plan.buffers[static_cast<size_t>(bo)].bytes = 0;
      ++plan.reused_in_place;
      break;
    }
  }
}

}  // namespace

MemoryPlan plan_memory(const Graph& g) {
  MemoryPlan plan;
  plan.buffer_of.assign(g.values.size(), -1);
  std::vector<bool> escapes;  // per buffer: a graph output reads it
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    const bool aliases = n.aliases_input();
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const int out = n.outputs[o];
      int source = -1;  // the value whose buffer this output shares
      if (aliases) {
        source = n.inputs[0];
      } else if (n.into >= 0) {
        source = n.into;
      } else if (n.op->mutates != 0) {
        // The o-th written input.
        int seen = 0;
        for (size_t i = 0; i < n.inputs.size(); ++i)
          if (writes_input(*n.op, i)) {
            if (seen == static_cast<int>(o)) source = n.inputs[i];
            ++seen;
          }
      }
      if (source >= 0) {
        plan.buffer_of[static_cast<size_t>(out)] = plan.buffer_of[static_cast<size_t>(source)];
        continue;  // -1 (not planned) when the source is an input or a captured tensor
      }
      const ops::TensorMeta& m = g.values[static_cast<size_t>(out)].meta;
      MemoryPlan::Buffer b;
      b.bytes = aligned(numel_of(m.sizes) * static_cast<int64_t>(itemsize(m.dtype)));
      b.first = b.last = static_cast<int>(k);
      plan.buffer_of[static_cast<size_t>(out)] = static_cast<int>(plan.buffers.size());
      plan.buffers.push_back(b);
      escapes.push_back(false);
    }
    // Reads extend the lifetimes of the buffers read.
    auto touch = [&](int id) {
      const int b = plan.buffer_of[static_cast<size_t>(id)];
      if (b >= 0) plan.buffers[static_cast<size_t>(b)].last = static_cast<int>(k);
    };
    for (int id : n.inputs) touch(id);
    if (n.into >= 0) touch(n.into);
  }
  for (int id : g.outputs) {
    const int b = plan.buffer_of[static_cast<size_t>(id)];
    if (b >= 0) escapes[static_cast<size_t>(b)] = true;
  }
  // The sum of every intermediate as its own allocation: what the plan is measured against.
  for (size_t b = 0; b < plan.buffers.size(); ++b)
    if (!escapes[b]) plan.intermediate_bytes += plan.buffers[b].bytes;
  reuse_in_place(g, plan, escapes);
  // Escaping buffers are the caller's: out of the plan.
  std::vector<int> renumber(plan.buffers.size(), -1);
  std::vector<MemoryPlan::Buffer> kept;
  for (size_t b = 0; b < plan.buffers.size(); ++b)
    if (!escapes[b] && plan.buffers[b].bytes > 0) {  // 0 bytes: merged into another
      renumber[b] = static_cast<int>(kept.size());
      kept.push_back(plan.buffers[b]);
    }
  for (int& b : plan.buffer_of)
    if (b >= 0) b = renumber[static_cast<size_t>(b)];
  plan.buffers = std::move(kept);

  // Greedy by size: largest first, lowest offset free over the buffer's lifetime.
  std::vector<size_t> order(plan.buffers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plan.buffers[a].bytes > plan.buffers[b].bytes;
  });
  std::vector<size_t> placed;
  for (size_t idx : order) {
    MemoryPlan::Buffer& b = plan.buffers[idx];
    std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of conflicting buffers
    for (size_t p : placed) {
      const MemoryPlan::Buffer& q = plan.buffers[p];
      if (overlap_in_time(b, q)) busy.emplace_back(q.offset, q.offset + q.bytes);
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + b.bytes <= begin) break;
      offset = std::max(offset, end);
    }
    b.offset = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + b.bytes);
    placed.push_back(idx);
  }
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    int64_t live = 0;
    for (const MemoryPlan::Buffer& b : plan.buffers)
      if (b.first <= static_cast<int>(k) && static_cast<int>(k) <= b.last) live += b.bytes;
    plan.peak_live_bytes = std::max(plan.peak_live_bytes, live);
  }
  return plan;
}

void verify_plan(const MemoryPlan& plan) {
  for (size_t a = 0; a < plan.buffers.size(); ++a) {
    const MemoryPlan::Buffer& x = plan.buffers[a];
    TESSERA_INTERNAL_ASSERT(x.offset >= 0 && x.offset + x.bytes <= plan.arena_bytes &&
                                x.offset % MemoryPlan::kAlignment == 0,
                            "memory plan: buffer ", a, " lies outside the arena or is misaligned");
    for (size_t b = a + 1; b < plan.buffers.size(); ++b) {
      const MemoryPlan::Buffer& y = plan.buffers[b];
      const bool in_space = x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
      TESSERA_INTERNAL_ASSERT(!(in_space && overlap_in_time(x, y)), "memory plan: buffers ", a, " and ", b,
                              " are alive together (nodes ", x.first, "-", x.last, " and ", y.first, "-",
                              y.last, ") and overlap");
    }
  }
}

}  // namespace tessera::graph
