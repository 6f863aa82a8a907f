// The caching CPU allocator: alignment, size classes, reuse, statistics, thread safety.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "tessera/allocator.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

bool aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

// The bytes a request's own class occupies, as seen through current_bytes (with an empty
// cache: a large request may borrow a bigger cached block).
int64_t block_bytes(size_t n) {
  empty_cache();
  const int64_t before = memory_stats().current_bytes;
  void* p = detail::cpu_allocate(n);
  const int64_t used = memory_stats().current_bytes - before;
  detail::cpu_free(p, n);
  return used;
}

}  // namespace

TEST(Allocator, BlocksAre64ByteAligned) {
  for (size_t n : {size_t{1}, size_t{7}, size_t{63}, size_t{64}, size_t{65}, size_t{100},
                   size_t{511}, size_t{512}, size_t{513}, size_t{1000}, size_t{4096},
                   size_t{1} << 20, (size_t{3} << 20) + 5}) {
    void* p = detail::cpu_allocate(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(aligned64(p)) << n;
    std::memset(p, 0xab, n);  // the whole request must be writable (ASan checks this)
    detail::cpu_free(p, n);
  }
}

TEST(Allocator, ZeroBytesGivesDistinctValidPointers) {
  void* a = detail::cpu_allocate(0);
  void* b = detail::cpu_allocate(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_TRUE(aligned64(a));
  detail::cpu_free(a, 0);
  detail::cpu_free(b, 0);
}

TEST(Allocator, FreeOfNullIsANoOp) {
  const MemoryStats before = memory_stats();
  detail::cpu_free(nullptr, 128);
  EXPECT_EQ(memory_stats().current_bytes, before.current_bytes);
  EXPECT_EQ(memory_stats().cached_bytes, before.cached_bytes);
}

TEST(Allocator, CurrentBytesFollowAllocAndFree) {
  const int64_t base = memory_stats().current_bytes;
  void* p = detail::cpu_allocate(1024);
  EXPECT_EQ(memory_stats().current_bytes, base + 1024);
  void* q = detail::cpu_allocate(64);
  EXPECT_EQ(memory_stats().current_bytes, base + 1024 + 64);
  detail::cpu_free(p, 1024);
  EXPECT_EQ(memory_stats().current_bytes, base + 64);
  detail::cpu_free(q, 64);
  EXPECT_EQ(memory_stats().current_bytes, base);
}

TEST(Allocator, SmallSizesRoundTo64) {
  EXPECT_EQ(block_bytes(0), 64);
  EXPECT_EQ(block_bytes(1), 64);
  EXPECT_EQ(block_bytes(64), 64);
  EXPECT_EQ(block_bytes(65), 128);
  EXPECT_EQ(block_bytes(500), 512);
  EXPECT_EQ(block_bytes(512), 512);
}

TEST(Allocator, LargeSizesUseQuarterPowerClasses) {
  EXPECT_EQ(block_bytes(513), 640);
  EXPECT_EQ(block_bytes(1024), 1024);
  EXPECT_EQ(block_bytes(1025), 1280);
  EXPECT_EQ(block_bytes(4097), 5120);
  EXPECT_EQ(block_bytes((size_t{1} << 20) + 1), (int64_t{5} << 18));
}

TEST(Allocator, SizeClassWasteIsBounded) {
  for (size_t n = 1; n < 200000; n = n * 3 / 2 + 1) {
    const int64_t b = block_bytes(n);
    EXPECT_GE(b, static_cast<int64_t>(n)) << n;
    EXPECT_EQ(b % 64, 0) << n;
    EXPECT_LE(b, std::max<int64_t>(64 * ((static_cast<int64_t>(n) + 63) / 64),
                                   static_cast<int64_t>(n) * 5 / 4 + 1))
        << n;
  }
}

TEST(Allocator, FreedBlockIsReused) {
  empty_cache();
  void* p = detail::cpu_allocate(5000);
  detail::cpu_free(p, 5000);
  const MemoryStats before = memory_stats();
  void* q = detail::cpu_allocate(5000);
  const MemoryStats after = memory_stats();
  EXPECT_EQ(q, p);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.alloc_calls, before.alloc_calls + 1);
  EXPECT_EQ(after.cached_bytes, before.cached_bytes - 5120);
  detail::cpu_free(q, 5000);
}

TEST(Allocator, SameClassDifferentSizeIsReused) {
  empty_cache();
  void* p = detail::cpu_allocate(4100);
  detail::cpu_free(p, 4100);
  void* q = detail::cpu_allocate(4200);  // both in the 5120-byte class
  EXPECT_EQ(q, p);
  detail::cpu_free(q, 4200);
}

TEST(Allocator, OtherClassIsNotReused) {
  empty_cache();
  void* p = detail::cpu_allocate(1000);
  detail::cpu_free(p, 1000);
  const int64_t hits = memory_stats().cache_hits;
  void* q = detail::cpu_allocate(50000);
  EXPECT_NE(q, p);  // p is still held by the cache
  EXPECT_EQ(memory_stats().cache_hits, hits);
  detail::cpu_free(q, 50000);
}

TEST(Allocator, LargeRequestBorrowsTheSmallestBiggerCachedBlock) {
  empty_cache();
  const size_t mib = size_t{1} << 20;
  void* big = detail::cpu_allocate(6 * mib);  // the 6 MiB class
  void* bigger = detail::cpu_allocate(7 * mib);  // the 7 MiB class
  detail::cpu_free(bigger, 7 * mib);
  detail::cpu_free(big, 6 * mib);
  const MemoryStats before = memory_stats();
  void* p = detail::cpu_allocate(2 * mib);  // the 2 MiB class is empty
  EXPECT_EQ(p, big);
  EXPECT_EQ(memory_stats().current_bytes, before.current_bytes + 6 * static_cast<int64_t>(mib));
  EXPECT_EQ(memory_stats().cached_bytes, before.cached_bytes - 6 * static_cast<int64_t>(mib));
  EXPECT_EQ(memory_stats().cache_hits, before.cache_hits + 1);
  std::memset(p, 0xab, 6 * mib);  // the whole block is the caller's while borrowed
  // Freed, the block goes back to its own class, whatever the request was.
  detail::cpu_free(p, 2 * mib);
  EXPECT_EQ(memory_stats().current_bytes, before.current_bytes);
  EXPECT_EQ(memory_stats().cached_bytes, before.cached_bytes);
  void* q = detail::cpu_allocate(6 * mib);
  EXPECT_EQ(q, big);
  detail::cpu_free(q, 6 * mib);
}

TEST(Allocator, NoBorrowingForSmallRequestsOrFromBlocksOverFourTimesTheirClass) {
  empty_cache();
  const size_t mib = size_t{1} << 20;
  void* kib = detail::cpu_allocate(200 << 10);
  void* huge = detail::cpu_allocate(9 * mib);
  detail::cpu_free(kib, 200 << 10);
  detail::cpu_free(huge, 9 * mib);
  void* small = detail::cpu_allocate(100 << 10);  // under a megabyte: its own class only
  void* two = detail::cpu_allocate(2 * mib);      // 9 MiB's class (10 MiB) is over 4 x 2 MiB
  EXPECT_NE(small, kib);
  EXPECT_NE(two, huge);
  detail::cpu_free(small, 100 << 10);
  detail::cpu_free(two, 2 * mib);
  empty_cache();
}

TEST(Allocator, MissCountsCallButNotHit) {
  empty_cache();
  const MemoryStats before = memory_stats();
  void* p = detail::cpu_allocate(777);
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.alloc_calls, before.alloc_calls + 1);
  EXPECT_EQ(after.cache_hits, before.cache_hits);
  detail::cpu_free(p, 777);
}

TEST(Allocator, FreeMovesBytesToCache) {
  empty_cache();
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  void* p = detail::cpu_allocate(2048);
  detail::cpu_free(p, 2048);
  EXPECT_EQ(memory_stats().cached_bytes, 2048);
}

TEST(Allocator, EmptyCacheReleasesEverything) {
  void* p = detail::cpu_allocate(3000);
  void* q = detail::cpu_allocate(100);
  detail::cpu_free(p, 3000);
  detail::cpu_free(q, 100);
  EXPECT_GT(memory_stats().cached_bytes, 0);
  empty_cache();
  EXPECT_EQ(memory_stats().cached_bytes, 0);
  // Allocation keeps working afterwards.
  void* r = detail::cpu_allocate(3000);
  EXPECT_TRUE(aligned64(r));
  detail::cpu_free(r, 3000);
}

TEST(Allocator, PeakTracksHighWaterMarkUntilReset) {
  reset_peak_memory();
  const MemoryStats start = memory_stats();
  EXPECT_EQ(start.peak_bytes, start.current_bytes);
  void* p = detail::cpu_allocate(1 << 20);
  EXPECT_EQ(memory_stats().peak_bytes, start.current_bytes + (1 << 20));
  detail::cpu_free(p, 1 << 20);
  EXPECT_EQ(memory_stats().peak_bytes, start.current_bytes + (1 << 20));  // stays
  reset_peak_memory();
  EXPECT_EQ(memory_stats().peak_bytes, memory_stats().current_bytes);
}

TEST(Allocator, TensorsAllocateThroughIt) {
  const int64_t base = memory_stats().current_bytes;
  {
    Tensor t = make_tensor({256}, kFloat32);  // 1024 bytes, an exact class
    EXPECT_EQ(memory_stats().current_bytes, base + 1024);
    EXPECT_TRUE(aligned64(t.data_ptr()));
  }
  EXPECT_EQ(memory_stats().current_bytes, base);
}

TEST(Allocator, RepeatedTensorLoopHitsCache) {
  { Tensor warm = make_tensor({1000}, kFloat64); }
  const MemoryStats before = memory_stats();
  for (int i = 0; i < 10; ++i) Tensor t = make_tensor({1000}, kFloat64);
  const MemoryStats after = memory_stats();
  EXPECT_EQ(after.alloc_calls - before.alloc_calls, 10);
  EXPECT_EQ(after.cache_hits - before.cache_hits, 10);
}

TEST(Allocator, BlocksBeyondTheCacheLimitGoToTheSystem) {
  if (std::getenv("TESSERA_CACHE_LIMIT") != nullptr) GTEST_SKIP() << "custom cache limit";
  empty_cache();
  const size_t huge = (size_t{3} << 29);  // 1.5 GiB of address space, never touched
  void* p = detail::cpu_allocate(huge);
  ASSERT_NE(p, nullptr);
  detail::cpu_free(p, huge);
  EXPECT_EQ(memory_stats().cached_bytes, 0);
}

TEST(Allocator, AbsurdRequestThrows) {
  try {
    detail::cpu_allocate(~size_t{0} - 10);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds"), std::string::npos) << e.what();
  }
}

TEST(Allocator, ConcurrentUseKeepsStatsConsistent) {
  const int64_t base = memory_stats().current_bytes;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      std::vector<std::pair<void*, size_t>> live;
      for (int i = 0; i < 5000; ++i) {
        const size_t n = static_cast<size_t>(64 + ((i * 37 + t * 11) % 9000));
        void* p = detail::cpu_allocate(n);
        static_cast<char*>(p)[0] = 1;
        live.emplace_back(p, n);
        if (live.size() > 8) {
          detail::cpu_free(live.front().first, live.front().second);
          live.erase(live.begin());
        }
      }
      for (auto& [p, n] : live) detail::cpu_free(p, n);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(memory_stats().current_bytes, base);
}
