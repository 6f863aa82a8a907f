#pragma once
// Distributed data-parallel training across processes and hosts, on Gloo (TCP transport).
//
//   // every rank runs the same program; `tessera launch --nproc 2 ./train` sets the
//   // environment (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK)
//   distributed::init_process_group();
//   auto ddp = std::make_shared<distributed::DistributedDataParallel>(model);
//   optim::SGD opt(ddp->parameters(), {.lr = 0.1});
//   for (const data::Batch& b : loader) {        // loader over a DistributedSampler
//     Tensor loss = loss_fn((*ddp)(b.input), b.target);
//     ddp->zero_grad();
//     loss.backward();        // gradients are averaged over the ranks before it returns
//     opt.step();
//   }
//
// Every collective has a timeout; when a peer process dies, the collective fails on every
// other rank with an IOError naming the lost rank instead of hanging. See docs/distributed.md.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/data.h"
#include "tessera/export.h"
#include "tessera/nn/module.h"
#include "tessera/tensor.h"

namespace tessera::distributed {

enum class ReduceOp { Sum, Avg, Max, Min };

struct InitOptions {
  // Where the ranks meet:
  //   "env://"             a TCP store at $MASTER_ADDR:$MASTER_PORT, hosted by rank 0
  //   "tcp://HOST:PORT"    the same, at HOST:PORT
  //   "file:///DIR"        Gloo's file store in DIR, a folder every rank sees (a shared
  //                        file system across hosts); it must be empty when the job starts
  std::string init_method = "env://";
  int rank = -1;        // -1: $RANK
  int world_size = -1;  // -1: $WORLD_SIZE
  // Rendezvous and every collective fail after this long. 0: $TESSERA_DIST_TIMEOUT
  // (seconds) when set, else 60 s.
  std::chrono::milliseconds timeout{0};
  // The address this rank's Gloo sockets bind to. Empty: $GLOO_SOCKET_IFNAME's address
  // when set, else the local address that routes to the master (TCP store) or
  // 127.0.0.1 (file store: single host unless set).
  std::string hostname = "";
};

// One rank's view of a group of processes, with the collectives. Collectives run one at a
// time on the group's own thread, in the order they were called, so every rank must call
// them in the same order. The tensors are CPU float32 or float64; collectives write in
// place. A failed collective (a peer lost, a timeout) leaves the group broken: every later
// call fails with the same error.
class Work;
class TESSERA_API ProcessGroup {
 public:
  // Rendezvous with the other ranks (blocks until all world_size ranks arrive or the
  // timeout passes). With several ranks it sets SIGPIPE to ignored unless the program
  // handles it: a write to a dead peer must fail with an error naming it, not end the
  // process silently.
  static std::shared_ptr<ProcessGroup> create(const InitOptions& options = {});
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;
  int local_rank() const;  // $LOCAL_RANK, else rank()
  std::chrono::milliseconds timeout() const;

  // `t` becomes the reduction of every rank's `t` (same shape and dtype on every rank).
  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
  // `t` becomes root's `t`.
  void broadcast(Tensor& t, int root = 0);
  // Every rank's `t` stacked along a new dim 0: [size(), ...t.shape].
  Tensor all_gather(const Tensor& t);
  // Returns when every rank has called it.
  void barrier();

  // The same, started on the group's thread; the returned Work's wait() finishes it. `t`
  // must be contiguous and stay untouched until then.
  std::shared_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op = ReduceOp::Sum);

  // The id a compiled graph's collective nodes name this group by (the "group" attribute of
  // all_reduce_start_ / all_reduce_wait_ / broadcast_, src/ops/collective.h).
  int64_t communicator_id() const;

  struct Impl;

 private:
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<void> communicator_;  // an ops::Communicator (private to the library)
  int64_t communicator_id_ = 0;
};

// A collective in flight.
class TESSERA_API Work {
 public:
  virtual ~Work();
  // Blocks until the collective finished (bounded by the group's timeout); throws its error.
  virtual void wait() = 0;
  virtual bool completed() const = 0;
};

// ---- the default group, as torch.distributed ----
TESSERA_API void init_process_group(const InitOptions& options = {});
TESSERA_API bool is_initialized();
// The default group; an error when init_process_group() has not run.
TESSERA_API const std::shared_ptr<ProcessGroup>& default_group();
TESSERA_API void destroy_process_group();
// The default group's rank and size; 0 and 1 without one, so code runs unchanged alone.
TESSERA_API int get_rank();
TESSERA_API int get_world_size();

// ---------------------------------------------------------------- DistributedDataParallel

struct DDPOptions {
  std::shared_ptr<ProcessGroup> group = nullptr;  // null: the default group
  // Gradients are reduced in buckets of about this size, each started as soon as all its
  // gradients are ready, while backward goes on.
  double bucket_cap_mb = 1.0;
  // true: a parameter that gets no gradient in a backward counts as zero on this rank
  // (and stays without a gradient when no rank used it). false: such a parameter is an
  // error naming it, since its bucket would never be ready.
  bool find_unused_parameters = false;
  // Broadcast rank 0's buffers (BatchNorm's running statistics) before every forward in
  // training mode, so every rank normalizes the same way.
  bool broadcast_buffers = true;
};

// Wraps a module for data-parallel training: rank 0's parameters and buffers are broadcast
// when it is made, and every backward() averages the gradients over the ranks before it
// returns, so each rank's optimizer takes the same step. The wrapped module is its child
// "module" (state_dict keys start with "module.", as PyTorch's). One backward per forward;
// convert dtypes (to()) before wrapping: hooks sit on the parameter tensors.
class TESSERA_API DistributedDataParallel : public nn::Module {
 public:
  explicit DistributedDataParallel(nn::ModulePtr module, DDPOptions options = {});
  ~DistributedDataParallel() override;

  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_multi(const std::vector<Tensor>& inputs) override;
  const nn::ModulePtr& module() const { return module_; }
  ProcessGroup& group() const { return *group_; }
  // The buckets, as parameter indices (into parameters()), in the order they are reduced.
  std::vector<std::vector<size_t>> bucket_assignment() const;

  // What the last reducing backward did, to judge how much communication overlapped it.
  struct SyncStats {
    int64_t buckets = 0;
    // Buckets whose all-reduce started from a gradient hook, while backward ran; the rest
    // started after it (held back by a parameter that got no gradient).
    int64_t started_during_backward = 0;
    double backward_ms = 0;  // from the first gradient to the end of backward
    double wait_ms = 0;      // then waiting for the reductions: communication not hidden
  };
  SyncStats last_sync_stats() const;

  // While a NoSync lives, backward only accumulates local gradients (gradient
  // accumulation); the first backward after it reduces the accumulated sum.
  class TESSERA_API NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  NoSync no_sync() { return NoSync(*this); }

  struct Reducer;

 private:
  nn::ModulePtr module_;
  std::shared_ptr<ProcessGroup> group_;
  DDPOptions options_;
  std::shared_ptr<Reducer> reducer_;
};

// ---------------------------------------------------------------- DistributedSampler

// Which dataset indices one rank visits per epoch: the (optionally shuffled) order of the
// epoch, cut into world_size interleaved shards of equal length. With drop_last the tail
// that does not divide evenly is dropped; otherwise the order is padded by repeating its
// start. Shuffling is a pure function of (seed, epoch), the same on every rank, so the
// shards are disjoint (apart from padding). Hand it to DataLoaderOptions::sampler.
struct DistributedSamplerOptions {
  int num_replicas = -1;  // -1: get_world_size()
  int rank = -1;          // -1: get_rank()
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
};
TESSERA_API data::Sampler distributed_sampler(DistributedSamplerOptions options = {});

}  // namespace tessera::distributed
