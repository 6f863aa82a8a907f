// The CPU caching allocator. Sizes are rounded up to a size class (multiples of 64 up to
// 512 bytes, then four classes per power of two, so at most 25% is wasted); a freed block
// goes into its class's bin and the next request of that class reuses it. A request of a
// megabyte or more that finds its own bin empty borrows the smallest cached block up to
// four times its class (kBorrowClasses): when the batch size changes (a training loop's
// evaluation at a batch of 1000, the last smaller batch, a varying sequence length) the
// blocks the old sizes left behind serve the new ones instead of sitting beside fresh
// memory. Measured on the Fashion-MNIST epoch's eager evaluation: without it the process
// mapped a fresh block for every tensor of the first batch of 1000. One mutex
// guards everything: the critical section is a few loads and a vector push/pop, well
// under the 1 us budget of an eager op, and contention is rare because kernels allocate
// on the calling thread, not inside parallel regions.
#include "tessera/allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessera/error.h"

namespace tessera {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kSmallLimit = 512;                      // below: classes are multiples of 64
constexpr size_t kSmallBins = kSmallLimit / kAlignment;  // 64, 128, ..., 512
constexpr int kStepsPerPow2 = 4;
constexpr size_t kNumBins = kSmallBins + kStepsPerPow2 * 64;
constexpr int64_t kDefaultCacheLimit = int64_t{1} << 30;
constexpr size_t kBorrowFrom = size_t{1} << 20;   // smallest class that borrows
constexpr size_t kBorrowClasses = 2 * kStepsPerPow2;  // up to 4x the request's class

// The class a request of `nbytes` is served from, and its bin. Zero bytes gets the
// smallest class so every allocation is a distinct, valid, freeable pointer.
struct SizeClass {
  size_t bytes;
  size_t bin;
};

SizeClass size_class(size_t nbytes) {
  if (nbytes <= kSmallLimit) {
    const size_t units = nbytes == 0 ? 1 : (nbytes + kAlignment - 1) / kAlignment;
    return {units * kAlignment, units - 1};
  }
  // nbytes in (2^k, 2^(k+1)]: classes 2^k * (1 + j/4), j = 1..4.
  const int k = 63 - std::countl_zero(static_cast<uint64_t>(nbytes - 1));
  const size_t step = size_t{1} << (k - 2);
  const size_t j = (nbytes - 1 - (size_t{1} << k)) / step + 1;  // 1..4
  return {(size_t{1} << k) + j * step,
          kSmallBins + static_cast<size_t>(k - 9) * kStepsPerPow2 + (j - 1)};
}

int64_t read_cache_limit() {
  // TESSERA_CACHE_LIMIT: bytes, with an optional K/M/G suffix. A malformed value keeps
  // the default: this runs on the first allocation, where throwing would be worse.
  const char* env = std::getenv("TESSERA_CACHE_LIMIT");
  if (env == nullptr || *env == '\0') return kDefaultCacheLimit;
  char* end = nullptr;
  const long long v = std::strtoll(env, &end, 10);
  if (end == env || v < 0) return kDefaultCacheLimit;
  int shift = 0;
  switch (*end) {
    case '\0':
      break;
    case 'k':
    case 'K':
      shift = 10;
      ++end;
      break;
    case 'm':
    case 'M':
      shift = 20;
      ++end;
      break;
    case 'g':
    case 'G':
      shift = 30;
      ++end;
      break;
    default:
      return kDefaultCacheLimit;
  }
  if (*end != '\0' || v > (std::numeric_limits<int64_t>::max() >> shift)) return kDefaultCacheLimit;
  return static_cast<int64_t>(v) << shift;
}

struct CachingAllocator {
  std::mutex mu;
  std::vector<void*> bins[kNumBins];
  MemoryStats stats;
  int64_t cache_limit = read_cache_limit();
  std::unordered_map<void*, size_t> borrowed;  // live blocks serving a smaller class: their bin

  void* allocate(size_t nbytes) {
    // Out of memory rather than invalid argument: the request is well formed, there is
    // just no memory for it, and the caller's remedy (a smaller batch) is the same.
    TESSERA_CHECK_ALLOC(nbytes <= (size_t{1} << 62), "allocate: request of ", nbytes,
                        " bytes exceeds the addressable limit");
    const SizeClass sc = size_class(nbytes);
    const auto bytes = static_cast<int64_t>(sc.bytes);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.alloc_calls;
      // The request's own bin, then (large requests) the next kBorrowClasses bigger ones.
      const size_t last = sc.bytes >= kBorrowFrom ? std::min(kNumBins, sc.bin + 1 + kBorrowClasses) : sc.bin + 1;
      for (size_t b = sc.bin; b < last; ++b) {
        if (bins[b].empty()) continue;
        void* p = bins[b].back();
        bins[b].pop_back();
        const auto held = b == sc.bin ? bytes : static_cast<int64_t>(bin_bytes(b));
        if (b != sc.bin) borrowed.emplace(p, b);
        ++stats.cache_hits;
        stats.cached_bytes -= held;
        note_live(held);
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, sc.bytes);
    if (p == nullptr) {
      // The cache may hold the memory this request needs.
      release_cached();
      p = std::aligned_alloc(kAlignment, sc.bytes);
    }
    TESSERA_CHECK_ALLOC(p != nullptr, "allocate: out of memory allocating ", nbytes, " bytes");
    std::lock_guard<std::mutex> lock(mu);
    note_live(bytes);
    return p;
  }

  void free(void* p, size_t nbytes) {
    if (p == nullptr) return;
    SizeClass sc = size_class(nbytes);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (sc.bytes >= kBorrowFrom && !borrowed.empty()) {
        auto it = borrowed.find(p);
        if (it != borrowed.end()) {
          sc = {bin_bytes(it->second), it->second};
          borrowed.erase(it);
        }
      }
      const auto bytes = static_cast<int64_t>(sc.bytes);
      stats.current_bytes -= bytes;
      if (stats.cached_bytes + bytes <= cache_limit) {
        bins[sc.bin].push_back(p);
        stats.cached_bytes += bytes;
        return;
      }
    }
    std::free(p);
  }

  // The bytes of bin `b`'s class (b >= kSmallBins: the classes of size_class).
  static size_t bin_bytes(size_t b) {
    const size_t k = (b - kSmallBins) / kStepsPerPow2 + 9, j = (b - kSmallBins) % kStepsPerPow2 + 1;
    return (size_t{1} << k) + j * (size_t{1} << (k - 2));
  }

  void note_live(int64_t bytes) {
    stats.current_bytes += bytes;
    stats.peak_bytes = std::max(stats.peak_bytes, stats.current_bytes);
  }

  void release_cached() {
    std::vector<void*> to_free;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (std::vector<void*>& bin : bins) {
        to_free.insert(to_free.end(), bin.begin(), bin.end());
        bin.clear();
        bin.shrink_to_fit();
      }
      stats.cached_bytes = 0;
    }
    for (void* p : to_free) std::free(p);
  }
};

CachingAllocator& allocator() {
  // Leaked on purpose: storages released by other static destructors at exit still
  // come back here.
  static CachingAllocator* a = new CachingAllocator();
  return *a;
}

}  // namespace

MemoryStats memory_stats() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.stats;
}

void reset_peak_memory() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.stats.peak_bytes = a.stats.current_bytes;
}

void empty_cache() { allocator().release_cached(); }

namespace detail {
void* cpu_allocate(size_t nbytes) { return allocator().allocate(nbytes); }
void cpu_free(void* ptr, size_t nbytes) { allocator().free(ptr, nbytes); }
}  // namespace detail

}  // namespace tessera
