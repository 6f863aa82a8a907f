// parallel_for: exact coverage of the range, inline cases, exceptions, thread settings.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tessera/parallel.h"
#include "tessera/tessera.h"

using namespace tessera;
namespace F = tessera::nn::functional;

namespace {

// Restores the thread count a test changed.
class Parallel : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = get_num_threads(); }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

// Runs parallel_for and returns how often each index was visited.
std::vector<int> visits(int64_t begin, int64_t end, int64_t grain) {
  std::vector<std::atomic<int>> count(static_cast<size_t>(std::max<int64_t>(end - begin, 0)));
  std::atomic<bool> bad_chunk{false};
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    if (b >= e || b < begin || e > end) bad_chunk = true;
    for (int64_t i = b; i < e; ++i) count[static_cast<size_t>(i - begin)].fetch_add(1);
  });
  EXPECT_FALSE(bad_chunk.load());
  std::vector<int> out;
  for (auto& c : count) out.push_back(c.load());
  return out;
}

}  // namespace

TEST_F(Parallel, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 4, 8}) {
    set_num_threads(threads);
    for (int64_t range : {1, 2, 5, 17, 100, 1000, 12345}) {
      for (int64_t grain : {1, 3, 64, 1000, 100000}) {
        const std::vector<int> v = visits(0, range, grain);
        for (size_t i = 0; i < v.size(); ++i)
          ASSERT_EQ(v[i], 1) << "threads " << threads << " range " << range << " grain " << grain
                             << " index " << i;
      }
    }
  }
}

TEST_F(Parallel, NonZeroAndNegativeBegin) {
  set_num_threads(4);
  const std::vector<int> v = visits(-500, 777, 10);
  ASSERT_EQ(v.size(), 1277u);
  for (int c : v) ASSERT_EQ(c, 1);
}

TEST_F(Parallel, EmptyRangeNeverCallsFn) {
  set_num_threads(2);
  int calls = 0;
  parallel_for(5, 5, 1, [&](int64_t, int64_t) { ++calls; });
  parallel_for(10, 3, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST_F(Parallel, NonPositiveGrainActsAsOne) {
  set_num_threads(2);
  for (int64_t grain : {0, -5}) {
    const std::vector<int> v = visits(0, 100, grain);
    for (int c : v) ASSERT_EQ(c, 1);
  }
}

TEST_F(Parallel, SmallRangeRunsInlineInOneCall) {
  set_num_threads(4);
  const auto caller = std::this_thread::get_id();
  std::vector<std::pair<int64_t, int64_t>> calls;
  bool same_thread = true;
  parallel_for(3, 50, 100, [&](int64_t b, int64_t e) {
    calls.emplace_back(b, e);
    same_thread = same_thread && std::this_thread::get_id() == caller;
  });
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(int64_t{3}, int64_t{50}));
  EXPECT_TRUE(same_thread);
}

TEST_F(Parallel, RangeEqualToGrainRunsInline) {
  set_num_threads(4);
  int calls = 0;
  parallel_for(0, 64, 64, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 64);
  });
  EXPECT_EQ(calls, 1);
}

TEST_F(Parallel, OneThreadRunsInline) {
  set_num_threads(1);
  int calls = 0;
  parallel_for(0, 1000000, 1, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(e - b, 1000000);
  });
  EXPECT_EQ(calls, 1);
}

TEST_F(Parallel, NoMoreChunksThanThreadsOrGrainAllows) {
  set_num_threads(3);
  std::atomic<int> calls{0};
  parallel_for(0, 1000, 1, [&](int64_t, int64_t) { calls.fetch_add(1); });
  EXPECT_LE(calls.load(), 3);
  calls = 0;
  // range 250 with grain 100 allows at most 3 chunks of >= 84 items
  set_num_threads(8);
  std::mutex mu;
  std::vector<int64_t> sizes;
  parallel_for(0, 250, 100, [&](int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    sizes.push_back(e - b);
  });
  EXPECT_LE(sizes.size(), 3u);
  for (int64_t s : sizes) EXPECT_GE(s, 80);
}

TEST_F(Parallel, UsesSeveralThreads) {
  set_num_threads(2);
  std::mutex mu;
  std::set<std::thread::id> ids;
  parallel_for(0, 2, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids.size(), 2u);
}

TEST_F(Parallel, InParallelRegionInsideOnly) {
  set_num_threads(2);
  EXPECT_FALSE(in_parallel_region());
  std::atomic<int> inside{0}, calls{0};
  parallel_for(0, 1000, 10, [&](int64_t, int64_t) {
    calls.fetch_add(1);
    if (in_parallel_region()) inside.fetch_add(1);
  });
  EXPECT_EQ(inside.load(), calls.load());
  EXPECT_GE(calls.load(), 2);
  EXPECT_FALSE(in_parallel_region());
}

TEST_F(Parallel, NestedCallsRunInline) {
  set_num_threads(2);
  std::atomic<int> inner_calls{0}, outer_calls{0};
  std::atomic<int64_t> covered{0};
  parallel_for(0, 4, 1, [&](int64_t b, int64_t e) {
    outer_calls.fetch_add(1);
    for (int64_t i = b; i < e; ++i) {
      parallel_for(0, 1000, 1, [&](int64_t ib, int64_t ie) {
        inner_calls.fetch_add(1);
        covered.fetch_add(ie - ib);
      });
    }
  });
  EXPECT_EQ(covered.load(), 4000);
  EXPECT_EQ(inner_calls.load(), 4);  // one inline call per outer index
}

TEST_F(Parallel, ExceptionFromWorkerReachesCaller) {
  set_num_threads(2);
  try {
    parallel_for(0, 1000, 1, [](int64_t b, int64_t) {
      if (b > 0) TESSERA_CHECK(false, "worker failed at ", b);
    });
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("worker failed at"), std::string::npos) << e.what();
  }
}

TEST_F(Parallel, ExceptionFromCallingThreadReachesCaller) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(0, 1000, 1,
                            [](int64_t b, int64_t) {
                              if (b == 0) throw std::out_of_range("first chunk");
                            }),
               std::out_of_range);
}

TEST_F(Parallel, ExceptionTypeIsPreservedWhenAllThreadsThrow) {
  set_num_threads(4);
  EXPECT_THROW(parallel_for(0, 100, 1, [](int64_t, int64_t) { throw std::invalid_argument("x"); }),
               std::invalid_argument);
}

TEST_F(Parallel, InlineExceptionPropagates) {
  set_num_threads(1);
  EXPECT_THROW(parallel_for(0, 10, 1, [](int64_t, int64_t) { throw std::logic_error("inline"); }),
               std::logic_error);
}

TEST_F(Parallel, UsableAfterAnException) {
  set_num_threads(2);
  EXPECT_ANY_THROW(parallel_for(0, 100, 1, [](int64_t, int64_t) { throw 42; }));
  EXPECT_FALSE(in_parallel_region());
  const std::vector<int> v = visits(0, 500, 7);
  for (int c : v) ASSERT_EQ(c, 1);
}

TEST_F(Parallel, SetAndGetThreads) {
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
}

TEST_F(Parallel, ZeroThreadsIsRejected) {
  set_num_threads(2);
  try {
    set_num_threads(0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected a thread count >= 1, got 0"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(get_num_threads(), 2);
}

TEST_F(Parallel, NegativeThreadsIsRejected) {
  EXPECT_THROW(set_num_threads(-3), Error);
}

TEST_F(Parallel, DefaultIsPositive) { EXPECT_GE(saved_, 1); }

TEST_F(Parallel, SumMatchesSerial) {
  set_num_threads(2);
  std::atomic<int64_t> total{0};
  parallel_for(1, 100001, 1000, [&](int64_t b, int64_t e) {
    int64_t s = 0;
    for (int64_t i = b; i < e; ++i) s += i;
    total.fetch_add(s);
  });
  EXPECT_EQ(total.load(), int64_t{100000} * 100001 / 2);
}

TEST_F(Parallel, SerialGuardRunsThisThreadsOpsAloneAndNests) {
  set_num_threads(2);
  {
    const SerialGuard serial;
    EXPECT_EQ(get_num_threads(), 1);
    {
      const SerialGuard inner;
      EXPECT_EQ(get_num_threads(), 1);
    }
    EXPECT_EQ(get_num_threads(), 1);  // the outer guard still holds
    // Another thread keeps the process's count.
    int other = 0;
    std::thread([&] { other = get_num_threads(); }).join();
    EXPECT_EQ(other, 2);
    // A range big enough for two chunks runs in one call on this thread.
    std::set<std::thread::id> ids;
    int calls = 0;
    parallel_for(0, 1 << 20, 1, [&](int64_t, int64_t) {
      ids.insert(std::this_thread::get_id());
      ++calls;
    });
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(ids, std::set<std::thread::id>{std::this_thread::get_id()});
    // An op through oneDNN (a convolution) computes what one thread computes.
    manual_seed(3);
    const Tensor x = randn({2, 8, 12, 12}), w = randn({16, 8, 3, 3});
    const Tensor serial_y = F::conv2d(x, w);
    set_num_threads(1);
    const Tensor one_thread_y = F::conv2d(x, w);
    set_num_threads(2);
    EXPECT_TRUE(equal(serial_y, one_thread_y));
  }
  EXPECT_EQ(get_num_threads(), 2);
}
