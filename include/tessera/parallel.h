#pragma once
// Intra-op parallelism. Tessera runs its loops on the same OpenMP pool that oneDNN uses,
// so a kernel library and Tessera's own kernels never compete with two pools for the cores
// (the oversubscription that makes PyTorch's p90 latency 5-10x its median on 2 cores).
#include <cstdint>
#include <functional>

#include "tessera/export.h"

namespace tessera {

// Threads used by every parallel region. Default: TESSERA_NUM_THREADS if set, else the
// machine's cores. get_num_threads() is 1 on a thread inside a SerialGuard.
TESSERA_API void set_num_threads(int n);
TESSERA_API int get_num_threads();
TESSERA_API bool in_parallel_region();

// While alive, every op called on this thread runs on this thread alone: Tessera's loops
// and oneDNN's primitives start no thread team. For threads that work beside the one that
// trains or serves (DataLoader workers hold one while they build batches): on a machine
// with as many threads as cores, a second team on the same cores makes the main step's
// team wait for descheduled threads at every barrier. Other threads are unaffected;
// guards nest.
class TESSERA_API SerialGuard {
 public:
  SerialGuard();
  ~SerialGuard();
  SerialGuard(const SerialGuard&) = delete;
  SerialGuard& operator=(const SerialGuard&) = delete;
};

// Calls fn(begin, end) over [begin, end) split into chunks of at least `grain` items.
// Runs inline when the range is small, or when already inside a parallel region.
TESSERA_API void parallel_for(int64_t begin, int64_t end, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn);

// The grain that keeps elementwise work per thread above the cost of waking a thread.
inline constexpr int64_t kElementwiseGrain = 32768;

}  // namespace tessera
