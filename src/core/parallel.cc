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
//
// Built with TESSERA_OPENMP=OFF (the ThreadSanitizer preset: libgomp is not instrumented,
// so TSan would report its internal synchronization as races), parallel_for runs every
// range inline on the calling thread; the thread count is still stored and reported.
#include "tessera/parallel.h"

#if TESSERA_OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "core/parallel_internal.h"
#include "tessera/error.h"

namespace tessera {
namespace {

int default_num_threads() {
  if (const char* env = std::getenv("TESSERA_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    // A malformed value falls back to the default rather than failing at first use.
    if (end != env && *end == '\0' && v >= 1 && v <= 4096) return static_cast<int>(v);
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

#if TESSERA_OPENMP
// The count last given to omp_set_num_threads on this thread (0: never).
thread_local int t_omp_threads = 0;
#endif

}  // namespace

void set_num_threads(int n) {
  TESSERA_CHECK(n >= 1, "set_num_threads: expected a thread count >= 1, got ", n);
  num_threads_slot().store(n, std::memory_order_relaxed);
  detail::sync_openmp_threads();
}

namespace {
thread_local int t_serial_depth = 0;  // SerialGuards alive on this thread
}  // namespace

SerialGuard::SerialGuard() {
  ++t_serial_depth;
  detail::sync_openmp_threads();
}

SerialGuard::~SerialGuard() {
  --t_serial_depth;
  detail::sync_openmp_threads();
}

int get_num_threads() { return t_serial_depth > 0 ? 1 : num_threads_slot().load(std::memory_order_relaxed); }

namespace detail {
void sync_openmp_threads() {
#if TESSERA_OPENMP
  // OpenMP's thread count (nthreads-var) is per thread: omp_set_num_threads on one thread
  // leaves every other std::thread at the runtime's default (OMP_NUM_THREADS or the
  // cores). oneDNN reads it when it builds a primitive (which fixes how the primitive
  // splits, and so the order it sums in) and when it runs one, so without this a thread
  // other than the one that called set_num_threads would compute with another split.
  // Inside a region (a parallel_for chunk) the per-thread count belongs to the region's
  // implicit task, and oneDNN runs single-threaded there anyway.
  if (omp_in_parallel()) return;
  const int n = get_num_threads();
  if (t_omp_threads != n) {
    omp_set_num_threads(n);
    t_omp_threads = n;
  }
#endif
}
}  // namespace detail

bool in_parallel_region() {
#if TESSERA_OPENMP
  return t_in_parallel_for || omp_in_parallel() != 0;
#else
  return t_in_parallel_for;
#endif
}

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
#if !TESSERA_OPENMP
  fn(begin, end);
#else
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
#endif
}

}  // namespace tessera
