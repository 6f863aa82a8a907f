#pragma once
// Collectives as ops, so that a traced graph holds them as nodes: a compiled train step
// under DistributedDataParallel replays its gradient all-reduces (docs/distributed.md,
// "Compiled train steps"). The ops layer knows no process group and no network: a higher
// layer (src/distributed/) implements Communicator and registers it; a node names it by
// the id registration returned (attribute "group"). Each op writes its buffer in place
// (OpDef::mutates) and carries kCollective, so graph passes keep it where it is: never
// folded, merged with another or dropped, since other processes wait for it.
//
//   all_reduce_start_(buffer) {group}  starts summing `buffer` over the group's ranks and
//                                      returns at once; the sum lands in `buffer` later
//   all_reduce_wait_(buffer) {group}   returns when that sum is in `buffer` (its error if
//                                      it failed)
//   broadcast_(buffer) {group, root}   `buffer` becomes rank `root`'s, before it returns
//
// Between a start and its wait nothing may read or write the buffer. The buffer must be
// contiguous, float32 or float64. A node's group id is a handle of this process: a graph
// with collectives cannot be saved to a file (graph/serialize.cc refuses it).
#include <memory>
#include <string>

#include "ops/op.h"

namespace tessera::ops {

class Communicator {
 public:
  virtual ~Communicator() = default;
  // "process group (rank 0 of 2)": for error messages.
  virtual std::string describe() const = 0;
  // Starts summing `buffer` over the ranks in place; the collective is known by its buffer
  // until wait(buffer). Starting a buffer already in flight is an error.
  virtual void all_reduce_start(const Tensor& buffer) = 0;
  // Blocks until the all-reduce started on `buffer` finished; throws its error. An error
  // when none was started on it.
  virtual void all_reduce_wait(const Tensor& buffer) = 0;
  virtual void broadcast(const Tensor& buffer, int64_t root) = 0;
};

// Ids start at 1 and are never reused, so a stale id names no other group. The registry
// holds the communicator weakly: its owner unregisters it (or simply dies) when it goes.
int64_t register_communicator(std::weak_ptr<Communicator> communicator);
void unregister_communicator(int64_t id);
// The communicator of `id`; an InvalidArgumentError naming `op` when it is gone (a graph
// that outlived the process group it was traced with).
std::shared_ptr<Communicator> find_communicator(int64_t id, const char* op);

extern OpDef kAllReduceStart;  // attrs: group
extern OpDef kAllReduceWait;   // attrs: group
extern OpDef kBroadcastInto;   // "broadcast_", attrs: group, root
void register_collective_ops();

}  // namespace tessera::ops

namespace tessera::cpu {
void register_collective_kernels();
}  // namespace tessera::cpu
