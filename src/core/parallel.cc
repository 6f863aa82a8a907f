// parallel_for on the OpenMP runtime that oneDNN also uses (libgomp on Debian), so the
// two never run two thread pools over the same cores.
//
// Wait policy: we leave OMP_WAIT_POLICY / GOMP_SPINCOUNT alone because we cannot change
// them. libgomp parses them in a constructor when it is loaded, before any Tessera code
// runs, so setenv() from here is ignored. Experiment (2 cores, 2-thread regions of ~1 us
// work separated by 2 ms of serial work on the caller):
//   default        process CPU / wall 1.96 (the idle worker spins a whole core), 2.7 us/region
//   setenv inside  1.56: still spinning, i.e. no effect
//   exported       0.96 (idle worker sleeps), but ~10 us per back-to-back region
// and with other busy processes on the machine, spinning made regions up to ~50x slower.
// So: machines shared with other work should export OMP_WAIT_POLICY=passive before
// starting the process; dedicated ones keep the faster spinning default.
#include "tessera/parallel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "tessera/error.h"

namespace tessera {
namespace {

int default_num_threads() {
  if (const char* env = std::getenv("TESSERA_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    // A malformed value falls back to the default rather than failing at first use.
    if (end != env && *end == '\0' && v >= 1 && v <= 4096) {
      // So oneDNN, which asks OpenMP, agrees with Tessera from the start.
      omp_set_num_threads(static_cast<int>(v));
      return static_cast<int>(v);
    }
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::atomic<int>& num_threads_slot() {
  static std::atomic<int> n{default_num_threads()};
  return n;
}

// Set while this thread runs a chunk of parallel_for: covers teams OpenMP shrank to one
// thread, which omp_in_parallel() does not report as parallel.
thread_local bool t_in_parallel_for = false;

}  // namespace

void set_num_threads(int n) {
  TESSERA_CHECK(n >= 1, "set_num_threads: expected a thread count >= 1, got ", n);
  num_threads_slot().store(n, std::memory_order_relaxed);
  omp_set_num_threads(n);
}

int get_num_threads() { return num_threads_slot().load(std::memory_order_relaxed); }

bool in_parallel_region() { return t_in_parallel_for || omp_in_parallel() != 0; }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (begin >= end) return;
  const int64_t range = end - begin;
  grain = std::max<int64_t>(grain, 1);
  const int threads = get_num_threads();
  if (range <= grain || threads == 1 || in_parallel_region()) {
    fn(begin, end);
    return;
  }
  const int64_t max_chunks = (range + grain - 1) / grain;
  const int team = static_cast<int>(std::min<int64_t>(threads, max_chunks));

  // A throw escaping an OpenMP region terminates the process, so each thread catches and
  // the first exception is rethrown on the caller once the region has joined.
  std::exception_ptr error;
  std::mutex error_mu;
#pragma omp parallel num_threads(team)
  {
    // The runtime may grant fewer threads than asked: split by the actual team.
    const int64_t nt = omp_get_num_threads();
    const int64_t tid = omp_get_thread_num();
    const int64_t chunk = (range + nt - 1) / nt;
    const int64_t b = begin + tid * chunk;
    const int64_t e = std::min(end, b + chunk);
    if (b < e) {
      const bool was = t_in_parallel_for;
      t_in_parallel_for = true;
      try {
        fn(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
      t_in_parallel_for = was;
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace tessera
