#include "graph/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "ops/copy.h"
#include "ops/random.h"

namespace tessera::graph {

namespace {

// TESSERA_PROFILE=1: every executor times each node and, at exit, stderr gets a table of
// where compiled calls spent their time, per op and output shape, slowest first. Meant for
// choosing kernel work by measurement; off, it costs one branch per node.
bool profile_from_env() {
  static const bool on = [] {
    const char* v = std::getenv("TESSERA_PROFILE");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
  }();
  return on;
}

struct ProfileRow {
  double seconds = 0;
  long calls = 0;
};

class Profile {
 public:
  static Profile& get() {
    static Profile* p = [] {
      auto* made = new Profile();  // leaked on purpose: printed from atexit, after statics die
      std::atexit([] { get().print(); });
      return made;
    }();
    return *p;
  }
  void add(const std::string& key, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    ProfileRow& r = rows_[key];
    r.seconds += seconds;
    ++r.calls;
  }
  void print() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::pair<std::string, ProfileRow>> rows(rows_.begin(), rows_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (const auto& r : rows) total += r.second.seconds;
    std::fprintf(stderr, "# TESSERA_PROFILE: compiled graphs' nodes, %.3f s in all\n", total);
    std::fprintf(stderr, "# %9s %6s %10s %10s  %s\n", "total ms", "%", "calls", "ms/call", "op [output shape]");
    for (const auto& [key, r] : rows)
      std::fprintf(stderr, "# %9.2f %6.2f %10ld %10.4f  %s\n", r.seconds * 1e3, total > 0 ? 100 * r.seconds / total : 0.0,
                   r.calls, r.seconds * 1e3 / static_cast<double>(r.calls), key.c_str());
  }

 private:
  std::mutex mutex_;
  std::map<std::string, ProfileRow> rows_;
};

std::string profile_key(const Node& n, const std::vector<Value>& values) {
  std::ostringstream key;
  key << n.op->name << " [";
  for (size_t o = 0; o < n.outputs.size(); ++o) {
    if (o > 0) key << "; ";
    const auto& sizes = values[static_cast<size_t>(n.outputs[o])].meta.sizes;
    for (size_t d = 0; d < sizes.size(); ++d) key << (d > 0 ? "x" : "") << sizes[d];
  }
  key << "]";
  return key.str();
}

}  // namespace

// What one call needs besides its inputs: the arena and, per value, the tensor over its
// planned buffer (undefined for values the plan does not cover), plus the vectors a call
// fills, kept so that a warm call allocates none of them.
struct Executor::Frame {
  std::shared_ptr<Storage> arena;
  std::vector<Tensor> planned;  // per value
  std::vector<Tensor> env;      // per value, during a call
  std::vector<Tensor> args;
  std::vector<Tensor> outs;
};

Executor::Executor(Graph graph) : graph_(std::move(graph)), plan_(plan_memory(graph_)) {
  const size_t nv = graph_.values.size();
  std::vector<int> last_use(nv, -1);
  prepared_.resize(graph_.nodes.size());
  frame_view_.assign(graph_.nodes.size(), false);
  std::vector<bool> in_frame(nv, false);  // values whose tensor the frame holds
  for (size_t k = 0; k < graph_.nodes.size(); ++k) {
    const Node& n = graph_.nodes[k];
    for (int id : n.inputs) last_use[static_cast<size_t>(id)] = static_cast<int>(k);
    if (n.into >= 0) last_use[static_cast<size_t>(n.into)] = static_cast<int>(k);
    for (int id : n.outputs)  // an output nothing reads is released at once
      if (last_use[static_cast<size_t>(id)] < 0) last_use[static_cast<size_t>(id)] = static_cast<int>(k);
    if (n.into < 0) {
      std::vector<ops::InputMeta> metas;
      for (int id : n.inputs) metas.push_back(input_meta(graph_, id));
      prepared_[k] = ops::prepare_kernel(*n.op, metas, n.attrs);
    }
    if (prepared_[k]) {
      for (int id : n.outputs) in_frame[static_cast<size_t>(id)] = plan_.buffer_of[static_cast<size_t>(id)] >= 0;
    } else if ((n.op->flags & ops::kIsView) && n.into < 0 && in_frame[static_cast<size_t>(n.inputs[0])]) {
      frame_view_[k] = in_frame[static_cast<size_t>(n.outputs[0])] = true;
    }
  }
  for (int id : graph_.outputs) last_use[static_cast<size_t>(id)] = -1;  // kept to the end
  release_after_.resize(graph_.nodes.size());
  for (size_t id = 0; id < nv; ++id)
    if (graph_.values[id].kind == ValueKind::Node && last_use[id] >= 0)
      release_after_[static_cast<size_t>(last_use[id])].push_back(static_cast<int>(id));
}

Executor::~Executor() = default;

int Executor::fast_path_nodes() const {
  int n = 0;
  for (size_t k = 0; k < prepared_.size(); ++k) n += prepared_[k].has_value() || frame_view_[k];
  return n;
}

std::unique_ptr<Executor::Frame> Executor::make_frame() const {
  auto f = std::make_unique<Frame>();
  const Graph& g = graph_;
  f->arena = std::make_shared<Storage>(static_cast<size_t>(plan_.arena_bytes));
  // One Storage per buffer (not views of one arena Storage): kernels tell aliasing by
  // storage, and buffers that merely share memory at different times must not look alike.
  std::vector<std::shared_ptr<Storage>> buffers(plan_.buffers.size());
  for (size_t b = 0; b < buffers.size(); ++b) {
    char* base = static_cast<char*>(f->arena->data()) + plan_.buffers[b].offset;
    buffers[b] = std::make_shared<Storage>(base, static_cast<size_t>(plan_.buffers[b].bytes), nullptr);
  }
  f->planned.resize(g.values.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (!prepared_[k]) continue;
    const Node& n = g.nodes[k];
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const int b = plan_.buffer_of[static_cast<size_t>(n.outputs[o])];
      if (b < 0) continue;
      const ops::TensorMeta& m = prepared_[k]->outputs[o];
      auto impl = std::make_shared<TensorImpl>();
      impl->storage = buffers[static_cast<size_t>(b)];
      impl->layout.sizes = m.sizes;
      impl->layout.strides = contiguous_strides(m.sizes);
      impl->dtype = m.dtype;
      impl->refresh();
      f->planned[static_cast<size_t>(n.outputs[o])] = Tensor(std::move(impl));
    }
  }
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (frame_view_[k]) {
      const Node& n = g.nodes[k];
      f->planned[static_cast<size_t>(n.outputs[0])] =
          n.op->view(f->planned[static_cast<size_t>(n.inputs[0])], n.attrs);
    }
  f->env.resize(g.values.size());
  return f;
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) const {
  const Graph& g = graph_;
  TESSERA_CHECK(inputs.size() == g.inputs.size(), "compiled graph: expected ", g.inputs.size(),
                " inputs, got ", inputs.size());
  std::unique_ptr<Frame> frame;
  {
    std::lock_guard<std::mutex> lock(frames_mutex_);
    if (!free_frames_.empty()) {
      frame = std::move(free_frames_.back());
      free_frames_.pop_back();
    }
  }
  if (!frame) frame = make_frame();
  Frame& f = *frame;
  std::vector<Tensor>& env = f.env;
  // Whatever happens, the frame goes back clean: no tensor of this call stays referenced.
  struct GiveBack {
    const Executor& e;
    std::unique_ptr<Frame>& frame;
    ~GiveBack() {
      for (Tensor& t : frame->env) t = Tensor();
      frame->args.clear();
      frame->outs.clear();
      std::lock_guard<std::mutex> lock(e.frames_mutex_);
      e.free_frames_.push_back(std::move(frame));
    }
  } give_back{*this, frame};

  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].tensor.defined()) env[i] = g.values[i].tensor;
  for (size_t i = 0; i < inputs.size(); ++i) env[static_cast<size_t>(g.inputs[i])] = inputs[i];

  const bool profiling = profile_from_env();
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    const auto started = profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    if (frame_view_[k]) {
      env[static_cast<size_t>(n.outputs[0])] = f.planned[static_cast<size_t>(n.outputs[0])];
      for (int id : release_after_[k]) env[static_cast<size_t>(id)] = Tensor();
      continue;
    }
    f.args.clear();
    for (int id : n.inputs) f.args.push_back(env[static_cast<size_t>(id)]);
    if (prepared_[k]) {
      const ops::PreparedKernel& p = *prepared_[k];
      f.outs.clear();
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        const Tensor& mine = f.planned[static_cast<size_t>(n.outputs[o])];
        f.outs.push_back(mine.defined() ? mine : make_tensor(p.outputs[o].sizes, p.outputs[o].dtype));
      }
      ops::run_prepared(*n.op, p, f.args, f.outs, n.attrs);
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        const size_t id = static_cast<size_t>(n.outputs[o]);
        const Tensor& mine = f.planned[id];
        // A kernel that handed back another tensor (an input, say) instead of writing the
        // one it was given: its result is copied into the planned buffer, so no value ever
        // aliases memory the plan gives to another.
        if (mine.defined() && !f.outs[o].is_same(mine)) cpu::copy_into(mine, f.outs[o]);
        // The buffer outlives the call and is written again by the next one: a new version
        // tells caches keyed by storage and version (oneDNN layouts) that its data changed.
        if (mine.defined()) {
          Storage& buffer = *mine.storage();  // (a reference: GCC 12 misreads atomics through shared_ptr)
          buffer.bump_version();
        }
        env[id] = mine.defined() ? mine : std::move(f.outs[o]);
      }
    } else {
      const Tensor into = n.into >= 0 ? env[static_cast<size_t>(n.into)] : Tensor();
      std::vector<Tensor> outs;
      if (n.is_random()) {
        std::vector<ops::InputMeta> metas(f.args.begin(), f.args.end());
        const ops::Attrs fresh = ops::with_fresh_counters(*n.op, metas, n.attrs, current_generator());
        outs = ops::call_backend(*n.op, f.args, fresh, into);
      } else {
        outs = ops::call_backend(*n.op, f.args, n.attrs, into);
      }
      for (size_t o = 0; o < n.outputs.size(); ++o) env[static_cast<size_t>(n.outputs[o])] = std::move(outs[o]);
    }
    for (int id : release_after_[k]) env[static_cast<size_t>(id)] = Tensor();
    if (profiling)
      Profile::get().add(profile_key(n, g.values),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  std::vector<Tensor> result;
  result.reserve(g.outputs.size());
  for (int id : g.outputs) result.push_back(env[static_cast<size_t>(id)]);
  return result;
}

}  // namespace tessera::graph
