// DistributedDataParallel: the reducer that averages gradients over the ranks while
// backward runs.
//
// Parameters are grouped into buckets (reverse registration order, which is roughly the
// order backward produces their gradients; one dtype per bucket, about bucket_cap_mb
// each). A post-accumulate-grad hook on every parameter copies its gradient into its
// bucket's flat buffer; the moment a bucket is complete its all-reduce starts on the
// process group's thread while backward goes on with the layers below. Buckets start in
// index order on every rank, so the ranks' collectives line up. A callback queued into
// the backward in progress finishes the iteration: parameters that got no gradient are
// filled in (or reported), every bucket is waited for, and each gradient becomes the
// bucket's sum divided by the world size.
//
// Each bucket also carries one "used" count per parameter, summed with the gradients, so
// a parameter no rank used keeps no gradient, exactly as in a single process.
//
// The communication goes through dispatch, as ops (ops/collective.h): all_reduce_start_
// when a bucket is complete, all_reduce_wait_ in the finishing callback, broadcast_ for
// the buffers. Eagerly they run at once; while a compiled step is traced they also become
// nodes of its graph, in the order they ran (a bucket's start right after the copy of its
// last gradient, among the backward's nodes), so the graph replays the reduction.
#include <algorithm>
#include <chrono>

#include "graph/tracer.h"
#include "ops/collective.h"
#include "tessera/autograd.h"
#include "tessera/distributed.h"
#include "tessera/ops.h"
#include "tessera/traced.h"

namespace tessera::distributed {

struct DistributedDataParallel::Reducer : std::enable_shared_from_this<Reducer> {
  using SyncStats = DistributedDataParallel::SyncStats;
  struct Bucket {
    std::vector<size_t> params;    // indices into Reducer::params
    std::vector<int64_t> offsets;  // element offset of each parameter's gradient in flat
    DType dtype = DType::Float32;
    int64_t grad_elems = 0;        // the used-counts follow the gradients
    Tensor flat;
    size_t pending = 0;
    bool launched = false;  // its all-reduce started and not yet waited for
  };

  std::shared_ptr<ProcessGroup> group;
  int64_t comm = 0;  // the group's communicator id: the collective ops' "group" attribute
  bool find_unused = false;
  std::vector<Tensor> params;
  std::vector<std::string> names;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of, slot_of;
  std::vector<int64_t> hook_ids;

  bool sync = true;  // read through traced_flag: a compiled step's graph is guarded on it
  bool in_iteration = false;  // a finishing callback is queued in the running backward
  std::vector<char> ready;
  size_t next_launch = 0;
  bool finishing = false;
  std::chrono::steady_clock::time_point first_grad;
  SyncStats stats, current;

  void build_buckets(double cap_mb) {
    const double cap_bytes = std::max(cap_mb, 0.0) * 1024.0 * 1024.0;
    bucket_of.assign(params.size(), 0);
    slot_of.assign(params.size(), 0);
    for (size_t k = params.size(); k-- > 0;) {
      const Tensor& p = params[k];
      const double bytes = static_cast<double>(p.nbytes());
      if (buckets.empty() || buckets.back().dtype != p.dtype() ||
          (!buckets.back().params.empty() &&
           static_cast<double>(buckets.back().grad_elems) * static_cast<double>(itemsize(p.dtype())) + bytes > cap_bytes)) {
        buckets.emplace_back();
        buckets.back().dtype = p.dtype();
      }
      Bucket& b = buckets.back();
      bucket_of[k] = buckets.size() - 1;
      slot_of[k] = b.params.size();
      b.params.push_back(k);
      b.offsets.push_back(b.grad_elems);
      b.grad_elems += p.numel();
    }
    for (Bucket& b : buckets)
      b.flat = zeros({b.grad_elems + static_cast<int64_t>(b.params.size())}, b.dtype);
    reset();
  }

  // Back to "no gradient seen": before the first hook of the next backward.
  void reset() {
    ready.assign(params.size(), 0);
    next_launch = 0;
    for (Bucket& b : buckets) {
      b.pending = b.params.size();
      b.launched = false;
    }
    in_iteration = false;
    finishing = false;
    current = SyncStats{};
  }

  // Waits for whatever is in flight (an abandoned backward), ignoring its errors: the
  // next collective reports a broken group anyway, and the buffers must be free again.
  // Below dispatch: this runs when a backward (or a trace) is being unwound.
  void abandon() {
    if (!in_iteration) return;
    for (Bucket& b : buckets)
      if (b.launched) try {
          ops::find_communicator(comm, "DistributedDataParallel")->all_reduce_wait(b.flat);
        } catch (const Error&) {
        }
    reset();
  }

  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Bucket& b = buckets[next_launch++];
      NoGradGuard no_grad;
      ops::call(ops::kAllReduceStart, {b.flat}, {{"group", comm}});
      b.launched = true;
      if (!finishing) ++current.started_during_backward;
    }
  }

  // Puts parameter k's contribution into its bucket: its gradient (zero when it has none)
  // and whether this rank used it.
  void fill(size_t k, const Tensor& grad, bool used) {
    Bucket& b = buckets[bucket_of[k]];
    const size_t s = slot_of[k];
    NoGradGuard no_grad;
    Tensor slice = b.flat.narrow(0, b.offsets[s], params[k].numel());
    if (grad.defined()) slice.copy_(grad.reshape({-1}));
    else slice.zero_();
    b.flat.narrow(0, b.grad_elems + static_cast<int64_t>(s), 1).fill_(used ? 1.0 : 0.0);
    ready[k] = 1;
    --b.pending;
  }

  void on_grad(size_t k) {
    // traced_flag: a step traced under no_sync (no collectives in its graph) is cached apart
    // from one traced outside it, so neither replays in the other's place.
    if (!traced_flag(sync) || group->size() == 1) return;
    // Which parameters get a gradient is decided per step by the used counts' values, which
    // a graph cannot branch on.
    if (graph::is_tracing() && find_unused)
      throw_error(ErrorKind::NotImplemented,
                  detail::concat("DistributedDataParallel (rank ", group->rank(), "): a compiled train step "
                                 "(tessera::compile) with find_unused_parameters = true: whether a parameter "
                                 "gets a gradient depends on the values of each step; run the step eagerly, or "
                                 "make every parameter take part and drop find_unused_parameters"));
    if (!in_iteration) {
      in_iteration = true;
      first_grad = std::chrono::steady_clock::now();
      // The token's destructor runs whether the callback ran or the backward threw and
      // dropped it: either way the next backward starts clean.
      struct Token {
        explicit Token(std::weak_ptr<Reducer> reducer) : r(std::move(reducer)) {}
        Token(const Token&) = delete;  // one token, one abandon()
        Token& operator=(const Token&) = delete;
        ~Token() {
          if (auto p = r.lock()) p->abandon();
        }
        std::weak_ptr<Reducer> r;
      };
      auto token = std::make_shared<Token>(weak_from_this());
      autograd::queue_callback([token] {
        if (auto p = token->r.lock()) p->finish();
      });
    }
    if (ready[k]) return;  // already in its bucket
    fill(k, params[k].grad(), true);
    launch_ready();
  }

  void finish() {
    using ms = std::chrono::duration<double, std::milli>;
    const auto backward_end = std::chrono::steady_clock::now();
    finishing = true;
    std::vector<std::string> missing;
    for (size_t k = 0; k < params.size(); ++k) {
      if (ready[k]) continue;
      if (!find_unused) {
        missing.push_back(names[k]);
        continue;
      }
      // Unused here: its accumulated gradient (no_sync steps) or zero, so every rank's
      // bucket is complete and the collectives line up.
      const Tensor g = params[k].grad();
      fill(k, g, g.defined());
    }
    if (!missing.empty()) {
      std::string list;
      for (size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
      if (missing.size() > 10) list += detail::concat(", ... (", missing.size(), " in all)");
      abandon();
      TESSERA_CHECK(false, "DistributedDataParallel (rank ", group->rank(), "): ", missing.size(),
                    " parameter(s) received no gradient in this backward: ", list,
                    ". Their buckets can never be reduced; if the model leaves parameters unused "
                    "in some steps, pass find_unused_parameters = true");
    }
    launch_ready();
    for (Bucket& b : buckets) {
      try {
        NoGradGuard no_grad;
        b.launched = false;  // the wait takes it out of flight, whatever its outcome
        ops::call(ops::kAllReduceWait, {b.flat}, {{"group", comm}});
      } catch (const Error&) {
        abandon();
        throw;
      }
    }
    current.buckets = static_cast<int64_t>(buckets.size());
    current.backward_ms = ms(backward_end - first_grad).count();
    current.wait_ms = ms(std::chrono::steady_clock::now() - backward_end).count();
    stats = current;
    const double world = static_cast<double>(group->size());
    NoGradGuard no_grad;
    // Traced (compiled step): find_unused is refused above, so every rank filled every
    // parameter as used; the counts are not read (a graph cannot read values).
    const bool tracing = graph::is_tracing();
    for (Bucket& b : buckets) {
      std::vector<double> used(b.params.size(), world);
      if (!tracing)
        used = b.flat.narrow(0, b.grad_elems, static_cast<int64_t>(b.params.size())).to_vector<double>();
      for (size_t s = 0; s < b.params.size(); ++s) {
        Tensor& p = params[b.params[s]];
        if (used[s] == 0) continue;  // no rank used it: no gradient, as in one process
        p.set_grad(div(b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes()), world));
      }
    }
    reset();
  }
};

namespace {

// Copies rank 0's tensors into every rank's, one collective per dtype (a broadcast_ op, so
// a compiled step's graph holds it too). Non-floating tensors (integer buffers such as
// num_batches_tracked) are left alone.
void broadcast_coalesced(ProcessGroup& group, const std::vector<Tensor>& tensors) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    int64_t total = 0;
    for (const Tensor& t : tensors)
      if (t.defined() && t.dtype() == dt) total += t.numel();
    if (total == 0) continue;
    NoGradGuard no_grad;
    Tensor flat = empty({total}, dt);
    int64_t off = 0;
    for (const Tensor& t : tensors)
      if (t.defined() && t.dtype() == dt) {
        flat.narrow(0, off, t.numel()).copy_(t.reshape({-1}));
        off += t.numel();
      }
    ops::call(ops::kBroadcastInto, {flat}, {{"group", group.communicator_id()}, {"root", int64_t{0}}});
    off = 0;
    for (const Tensor& t : tensors)
      if (t.defined() && t.dtype() == dt) {
        Tensor dst = t;
        dst.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
        off += t.numel();
      }
  }
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(nn::ModulePtr module, DDPOptions options)
    : nn::Module("DistributedDataParallel"), module_(std::move(module)), options_(std::move(options)) {
  TESSERA_CHECK(module_ != nullptr, "DistributedDataParallel: the module is null");
  group_ = options_.group ? options_.group : default_group();
  TESSERA_CHECK(options_.bucket_cap_mb > 0, "DistributedDataParallel: bucket_cap_mb must be > 0, got ",
                options_.bucket_cap_mb);
  register_module("module", module_);

  reducer_ = std::make_shared<Reducer>();
  reducer_->group = group_;
  reducer_->comm = group_->communicator_id();
  reducer_->find_unused = options_.find_unused_parameters;
  for (auto& [name, p] : module_->named_parameters()) {
    if (!p.requires_grad()) continue;
    TESSERA_CHECK_IMPLEMENTED(p.dtype() == DType::Float32 || p.dtype() == DType::Float64,
                              "DistributedDataParallel: parameter ", name, " is ", p.describe(),
                              "; gradients are reduced in float32 or float64 only");
    reducer_->params.push_back(p);
    reducer_->names.push_back(name);
  }
  reducer_->build_buckets(options_.bucket_cap_mb);

  // Every rank starts from rank 0's weights (and buffers), whatever its own seed made.
  if (group_->size() > 1) {
    broadcast_coalesced(*group_, module_->parameters());
    broadcast_coalesced(*group_, module_->buffers());
  }

  std::weak_ptr<Reducer> weak = reducer_;
  for (size_t k = 0; k < reducer_->params.size(); ++k)
    reducer_->hook_ids.push_back(autograd::register_post_accumulate_grad_hook(
        reducer_->params[k], [weak, k](const Tensor&) {
          if (auto r = weak.lock()) r->on_grad(k);
        }));
}

DistributedDataParallel::~DistributedDataParallel() {
  for (size_t k = 0; k < reducer_->params.size(); ++k)
    autograd::remove_post_accumulate_grad_hook(reducer_->params[k], reducer_->hook_ids[k]);
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  if (is_training() && options_.broadcast_buffers && group_->size() > 1)
    broadcast_coalesced(*group_, module_->buffers());
  return (*module_)(x);
}

std::vector<Tensor> DistributedDataParallel::forward_multi(const std::vector<Tensor>& inputs) {
  if (is_training() && options_.broadcast_buffers && group_->size() > 1)
    broadcast_coalesced(*group_, module_->buffers());
  return (*module_)(inputs);
}

std::vector<std::vector<size_t>> DistributedDataParallel::bucket_assignment() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& b : reducer_->buckets) out.push_back(b.params);
  return out;
}

DistributedDataParallel::SyncStats DistributedDataParallel::last_sync_stats() const {
  return reducer_->stats;
}

// Reads the flag through traced_flag before changing it: when a compiled function enters
// no_sync itself, the graph's guard must hold the value the flag had when the call began.
DistributedDataParallel::NoSync::NoSync(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(traced_flag(ddp.reducer_->sync)) {
  ddp_.reducer_->sync = false;
}

DistributedDataParallel::NoSync::~NoSync() { ddp_.reducer_->sync = previous_; }

// ---------------------------------------------------------------- DistributedSampler

data::Sampler distributed_sampler(DistributedSamplerOptions o) {
  const int replicas = o.num_replicas >= 0 ? o.num_replicas : get_world_size();
  const int rank = o.rank >= 0 ? o.rank : get_rank();
  TESSERA_CHECK(replicas >= 1, "distributed_sampler: num_replicas must be >= 1, got ", replicas);
  TESSERA_CHECK(rank >= 0 && rank < replicas, "distributed_sampler: rank must be in [0, ", replicas,
                "), got ", rank);
  return [replicas, rank, o](int64_t n, int64_t epoch) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    if (o.shuffle) {
      // The same permutation on every rank: a generator seeded by (seed, epoch) only.
      Generator gen(o.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(epoch) + 1);
      order = randperm(n, kInt64, &gen).to_vector<int64_t>();
    } else {
      for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    }
    const int64_t r = replicas;
    int64_t per_rank;
    if (o.drop_last) {
      per_rank = n / r;
      order.resize(static_cast<size_t>(per_rank * r));
    } else {
      per_rank = (n + r - 1) / r;
      // Pads by repeating the order from its start, so every rank has per_rank examples.
      const size_t want = static_cast<size_t>(per_rank * r);
      for (size_t i = 0; order.size() < want && n > 0; ++i) order.push_back(order[i % static_cast<size_t>(n)]);
    }
    std::vector<int64_t> shard;
    shard.reserve(static_cast<size_t>(per_rank));
    for (int64_t i = rank; i < static_cast<int64_t>(order.size()); i += r) shard.push_back(order[static_cast<size_t>(i)]);
    return shard;
  };
}

}  // namespace tessera::distributed
