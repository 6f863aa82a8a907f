// Philox and the random factories: known answers, reproducibility, thread-count
// independence, distributions, argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "ops/op.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

class Random : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_threads_ = get_num_threads();
    manual_seed(1234);
  }
  void TearDown() override { set_num_threads(saved_threads_); }
  int saved_threads_ = 1;
};

double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

// ---- Philox known answers: Random123's tests/kat_vectors, "philox4x32 10" lines.
// Counter words are listed least significant first, as in the file.

TEST(Philox, KnownAnswerZeros) {
  const PhiloxBlock b = philox(0, 0, 0);
  EXPECT_EQ(b.v[0], 0x6627e8d5u);
  EXPECT_EQ(b.v[1], 0xe169c58du);
  EXPECT_EQ(b.v[2], 0xbc57ac4cu);
  EXPECT_EQ(b.v[3], 0x9b00dbd8u);
}

TEST(Philox, KnownAnswerAllOnes) {
  const PhiloxBlock b = philox(~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0});
  EXPECT_EQ(b.v[0], 0x408f276du);
  EXPECT_EQ(b.v[1], 0x41c83b0eu);
  EXPECT_EQ(b.v[2], 0xa20bc7c6u);
  EXPECT_EQ(b.v[3], 0x6d5451fdu);
}

TEST(Philox, KnownAnswerPiDigits) {
  // ctr = 243f6a88 85a308d3 13198a2e 03707344, key = a4093822 299f31d0
  const PhiloxBlock b = philox(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull);
  EXPECT_EQ(b.v[0], 0xd16cfe09u);
  EXPECT_EQ(b.v[1], 0x94fdccebu);
  EXPECT_EQ(b.v[2], 0x5001e420u);
  EXPECT_EQ(b.v[3], 0x24126ea1u);
}

TEST(Philox, CounterAndKeyBothMatter) {
  const PhiloxBlock a = philox(1, 0, 0), b = philox(1, 0, 1), c = philox(2, 0, 0),
                    d = philox(1, 1, 0);
  EXPECT_NE(a.v[0], b.v[0]);
  EXPECT_NE(a.v[0], c.v[0]);
  EXPECT_NE(a.v[0], d.v[0]);
}

TEST(Philox, IsAPureFunction) {
  const PhiloxBlock a = philox(77, 5, 9), b = philox(77, 5, 9);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.v[i], b.v[i]);
}

// ---- Generator

TEST(GeneratorTest, ReserveAdvancesOffset) {
  Generator g(5);
  EXPECT_EQ(g.seed(), 5u);
  EXPECT_EQ(g.reserve(3), 0u);
  EXPECT_EQ(g.reserve(2), 3u);
  EXPECT_EQ(g.offset(), 5u);
  g.manual_seed(9);
  EXPECT_EQ(g.offset(), 0u);
  EXPECT_EQ(g.seed(), 9u);
}

TEST(GeneratorTest, ManualSeedResetsDefault) {
  default_generator().set_offset(100);
  manual_seed(42);
  EXPECT_EQ(default_generator().seed(), 42u);
  EXPECT_EQ(default_generator().offset(), 0u);
}

// ---- rand

TEST_F(Random, RandShapeDtypeRange) {
  Tensor t = rand({3, 4});
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_EQ(shape_str(t.sizes()), "[3, 4]");
  for (float v : t.to_vector<float>()) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LT(v, 1.0f);
  }
}

TEST_F(Random, RandFirstValueFollowsTheCounterContract) {
  Generator g(99);
  Tensor t = rand({5}, kFloat32, &g);
  const PhiloxBlock b0 = philox(99, 0, 0), b1 = philox(99, 0, 1);
  const std::vector<float> v = t.to_vector<float>();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(v[k], static_cast<float>(b0.v[k] >> 8) * 0x1p-24f);
  EXPECT_EQ(v[4], static_cast<float>(b1.v[0] >> 8) * 0x1p-24f);
}

TEST_F(Random, RandF64Uses53Bits) {
  Generator g(7);
  Tensor t = rand({1}, kFloat64, &g);
  const PhiloxBlock b = philox(7, 0, 0);
  const uint64_t x = ((static_cast<uint64_t>(b.v[1]) << 32) | b.v[0]) >> 11;
  EXPECT_EQ(t.item<double>(), static_cast<double>(x) * 0x1p-53);
}

TEST_F(Random, OffsetAdvancesByBlocksConsumed) {
  Generator g(1);
  rand({10}, kFloat32, &g);  // 4 per block -> 3 blocks
  EXPECT_EQ(g.offset(), 3u);
  rand({10}, kFloat64, &g);  // 2 per block -> 5
  EXPECT_EQ(g.offset(), 8u);
  randn({3}, kFloat32, &g);  // 4 per block -> 1
  EXPECT_EQ(g.offset(), 9u);
  randn({3}, kFloat64, &g);  // 2 per block -> 2
  EXPECT_EQ(g.offset(), 11u);
  randperm(5, kInt64, &g);  // one 64-bit draw per element, 2 per block -> 3
  EXPECT_EQ(g.offset(), 14u);
  rand({0, 5}, kFloat32, &g);
  EXPECT_EQ(g.offset(), 14u);
}

TEST_F(Random, SameSeedSameValues) {
  manual_seed(7);
  const std::vector<float> a = rand({100}).to_vector<float>();
  manual_seed(7);
  const std::vector<float> b = rand({100}).to_vector<float>();
  EXPECT_EQ(a, b);
}

TEST_F(Random, DifferentSeedDifferentValues) {
  manual_seed(7);
  const std::vector<float> a = rand({100}).to_vector<float>();
  manual_seed(8);
  const std::vector<float> b = rand({100}).to_vector<float>();
  EXPECT_NE(a, b);
}

TEST_F(Random, ConsecutiveCallsDiffer) {
  const std::vector<float> a = rand({50}).to_vector<float>();
  const std::vector<float> b = rand({50}).to_vector<float>();
  EXPECT_NE(a, b);
}

TEST_F(Random, SplitCallsContinueTheStream) {
  // Two calls of 4 floats consume the same counters as one call of 8.
  Generator g1(3), g2(3);
  std::vector<float> a = rand({4}, kFloat32, &g1).to_vector<float>();
  const std::vector<float> a2 = rand({4}, kFloat32, &g1).to_vector<float>();
  a.insert(a.end(), a2.begin(), a2.end());
  EXPECT_EQ(a, rand({8}, kFloat32, &g2).to_vector<float>());
}

TEST_F(Random, ExplicitGeneratorLeavesDefaultAlone) {
  const uint64_t before = default_generator().offset();
  Generator g(5);
  rand({100}, kFloat32, &g);
  EXPECT_EQ(default_generator().offset(), before);
  EXPECT_GT(g.offset(), 0u);
}

TEST_F(Random, RandMeanAndVariance) {
  const std::vector<double> v = rand({100000}, kFloat64).to_vector<double>();
  EXPECT_NEAR(mean_of(v), 0.5, 0.005);
  EXPECT_NEAR(std_of(v), std::sqrt(1.0 / 12.0), 0.005);
}

TEST_F(Random, RandReducedFloatsStayBelowOne) {
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor t = rand({20000}, dt);
    EXPECT_EQ(t.dtype(), dt);
    const std::vector<float> v = t.to_vector<float>();
    EXPECT_LT(*std::max_element(v.begin(), v.end()), 1.0f) << dtype_name(dt);
    EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0f) << dtype_name(dt);
    EXPECT_NEAR(std::accumulate(v.begin(), v.end(), 0.0) / 20000, 0.5, 0.02) << dtype_name(dt);
  }
}

TEST_F(Random, RandRejectsIntegerDtype) {
  EXPECT_ERROR_HAS(rand({2}, kInt64), "rand: expected a floating dtype");
}

TEST_F(Random, RandRejectsNegativeSizes) {
  EXPECT_ERROR_HAS(rand({2, -1}), "expected non-negative sizes, got [2, -1]");
}

TEST_F(Random, RejectedCallDoesNotAdvanceGenerator) {
  Generator g(1);
  EXPECT_THROW(rand({-1}, kFloat32, &g), Error);
  EXPECT_THROW(randint(5, 5, {3}, kInt64, &g), Error);
  EXPECT_EQ(g.offset(), 0u);
}

TEST_F(Random, RandEmpty) {
  Tensor t = rand({0, 3});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(shape_str(t.sizes()), "[0, 3]");
}

TEST_F(Random, RandZeroDim) {
  Tensor t = rand({});
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.numel(), 1);
}

// ---- thread-count independence

TEST_F(Random, RandIndependentOfThreadCount) {
  set_num_threads(1);
  manual_seed(11);
  const std::vector<float> one = rand({300001}).to_vector<float>();
  set_num_threads(2);
  manual_seed(11);
  const std::vector<float> two = rand({300001}).to_vector<float>();
  EXPECT_EQ(one, two);
}

TEST_F(Random, RandnIndependentOfThreadCount) {
  for (DType dt : {kFloat32, kFloat64}) {
    set_num_threads(1);
    manual_seed(12);
    const std::vector<double> one = randn({200003}, dt).to_vector<double>();
    set_num_threads(2);
    manual_seed(12);
    const std::vector<double> two = randn({200003}, dt).to_vector<double>();
    EXPECT_EQ(one, two) << dtype_name(dt);
  }
}

TEST_F(Random, RandintAndBernoulliIndependentOfThreadCount) {
  set_num_threads(1);
  manual_seed(13);
  const auto a1 = randint(-5, 1000, {150000}).to_vector<int64_t>();
  const auto b1 = bernoulli({150000}, 0.3).to_vector<float>();
  set_num_threads(2);
  manual_seed(13);
  const auto a2 = randint(-5, 1000, {150000}).to_vector<int64_t>();
  const auto b2 = bernoulli({150000}, 0.3).to_vector<float>();
  EXPECT_EQ(a1, a2);
  EXPECT_EQ(b1, b2);
}

// ---- randn / normal

TEST_F(Random, RandnStatisticsF32) {
  const std::vector<double> v = randn({100000}).to_vector<double>();
  EXPECT_NEAR(mean_of(v), 0.0, 0.015);
  EXPECT_NEAR(std_of(v), 1.0, 0.015);
  const auto within1 = std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x) < 1; });
  EXPECT_NEAR(static_cast<double>(within1) / 1e5, 0.6827, 0.01);
}

TEST_F(Random, RandnStatisticsF64) {
  const std::vector<double> v = randn({100000}, kFloat64).to_vector<double>();
  EXPECT_NEAR(mean_of(v), 0.0, 0.015);
  EXPECT_NEAR(std_of(v), 1.0, 0.015);
  const auto beyond2 = std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x) > 2; });
  EXPECT_NEAR(static_cast<double>(beyond2) / 1e5, 0.0455, 0.005);
}

TEST_F(Random, RandnValuesAreFinite) {
  for (float x : randn({50000}).to_vector<float>()) ASSERT_TRUE(std::isfinite(x));
}

TEST_F(Random, RandnOddLengthMatchesPrefixOfLonger) {
  Generator g1(4), g2(4);
  const std::vector<float> a = randn({7}, kFloat32, &g1).to_vector<float>();
  const std::vector<float> b = randn({8}, kFloat32, &g2).to_vector<float>();
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
}

TEST_F(Random, NormalMeanAndStd) {
  const std::vector<double> v = normal(3.0, 2.0, {100000}, kFloat64).to_vector<double>();
  EXPECT_NEAR(mean_of(v), 3.0, 0.03);
  EXPECT_NEAR(std_of(v), 2.0, 0.03);
}

TEST_F(Random, NormalZeroStdIsConstant) {
  for (float x : normal(1.5, 0.0, {100}).to_vector<float>()) EXPECT_EQ(x, 1.5f);
}

TEST_F(Random, NormalRejectsNegativeStd) {
  EXPECT_ERROR_HAS(normal(0.0, -1.0, {3}), "normal: expected a finite std >= 0, got -1");
}

TEST_F(Random, NormalRejectsNanStd) { EXPECT_THROW(normal(0.0, std::nan(""), {3}), Error); }

TEST_F(Random, RandnHalf) {
  Tensor t = randn({1000}, kFloat16);
  EXPECT_EQ(t.dtype(), kFloat16);
  const std::vector<double> v = t.to_vector<double>();
  EXPECT_NEAR(mean_of(v), 0.0, 0.15);
}

TEST_F(Random, RandnRejectsIntegerDtype) {
  EXPECT_ERROR_HAS(randn({2}, kInt32), "randn: expected a floating dtype");
}

// ---- randint

TEST_F(Random, RandintStaysInRange) {
  const auto v = randint(-3, 7, {10000}).to_vector<int64_t>();
  for (int64_t x : v) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 7);
  }
}

TEST_F(Random, RandintHitsEveryValueRoughlyEvenly) {
  const auto v = randint(0, 5, {50000}).to_vector<int64_t>();
  std::map<int64_t, int> hist;
  for (int64_t x : v) ++hist[x];
  ASSERT_EQ(hist.size(), 5u);
  for (auto& [k, n] : hist) EXPECT_NEAR(n, 10000, 500) << k;
}

TEST_F(Random, RandintDefaultDtypeIsInt64) { EXPECT_EQ(randint(0, 3, {2}).dtype(), kInt64); }

TEST_F(Random, RandintWideRange) {
  const int64_t lo = -(int64_t{1} << 40), hi = int64_t{1} << 40;
  const auto v = randint(lo, hi, {10000}).to_vector<int64_t>();
  int64_t mn = hi, mx = lo;
  for (int64_t x : v) {
    ASSERT_GE(x, lo);
    ASSERT_LT(x, hi);
    mn = std::min(mn, x);
    mx = std::max(mx, x);
  }
  EXPECT_LT(mn, lo / 2);  // the draws spread over the whole range
  EXPECT_GT(mx, hi / 2);
}

TEST_F(Random, RandintFullInt64Range) {
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const auto v = randint(lo, hi, {1000}).to_vector<int64_t>();
  EXPECT_TRUE(std::any_of(v.begin(), v.end(), [](int64_t x) { return x < 0; }));
  EXPECT_TRUE(std::any_of(v.begin(), v.end(), [](int64_t x) { return x > 0; }));
}

TEST_F(Random, RandintSingleValue) {
  for (int64_t x : randint(9, 10, {20}).to_vector<int64_t>()) EXPECT_EQ(x, 9);
}

TEST_F(Random, RandintOtherDtypes) {
  Tensor a = randint(0, 256, {1000}, kUInt8);
  EXPECT_EQ(a.dtype(), kUInt8);
  Tensor b = randint(-100, 100, {1000}, kInt32);
  for (int32_t x : b.to_vector<int32_t>()) {
    ASSERT_GE(x, -100);
    ASSERT_LT(x, 100);
  }
  Tensor c = randint(0, 10, {1000}, kFloat32);
  for (float x : c.to_vector<float>()) {
    ASSERT_EQ(x, std::floor(x));
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 10.0f);
  }
  Tensor d = randint(0, 2, {1000}, kBool);
  const auto dv = d.to_vector<int64_t>();
  EXPECT_TRUE(std::count(dv.begin(), dv.end(), 1) > 300);
  Tensor e = randint(0, 100, {10}, kFloat16);
  EXPECT_EQ(e.dtype(), kFloat16);
}

TEST_F(Random, RandintRejectsEmptyRange) {
  EXPECT_ERROR_HAS(randint(5, 5, {3}), "randint: expected low < high, got low=5, high=5");
  EXPECT_THROW(randint(6, 5, {3}), Error);
}

TEST_F(Random, RandintRejectsRangeOutsideDtype) {
  EXPECT_ERROR_HAS(randint(0, 300, {3}, kUInt8), "does not fit in u8");
  EXPECT_ERROR_HAS(randint(-1, 5, {3}, kUInt8), "does not fit in u8");
  EXPECT_ERROR_HAS(randint(0, 3, {3}, kBool), "does not fit in bool");
  EXPECT_ERROR_HAS(randint(0, int64_t{1} << 30, {3}, kFloat32), "does not fit in f32");
}

TEST_F(Random, RandintRejectsNegativeSizes) {
  EXPECT_ERROR_HAS(randint(0, 3, {-2}), "randint: expected non-negative sizes");
}

// ---- bernoulli

TEST_F(Random, BernoulliScalarMean) {
  const auto v = bernoulli({100000}, 0.3, kFloat64).to_vector<double>();
  for (double x : v) ASSERT_TRUE(x == 0.0 || x == 1.0);
  EXPECT_NEAR(mean_of(v), 0.3, 0.01);
}

TEST_F(Random, BernoulliScalarExtremes) {
  for (float x : bernoulli({1000}, 0.0).to_vector<float>()) ASSERT_EQ(x, 0.0f);
  for (float x : bernoulli({1000}, 1.0).to_vector<float>()) ASSERT_EQ(x, 1.0f);
}

TEST_F(Random, BernoulliScalarDtypes) {
  EXPECT_EQ(bernoulli({4}, 0.5).dtype(), kFloat32);
  Tensor b = bernoulli({1000}, 0.5, kBool);
  EXPECT_EQ(b.dtype(), kBool);
  const auto v = b.to_vector<int64_t>();
  EXPECT_NEAR(static_cast<double>(std::count(v.begin(), v.end(), 1)), 500, 80);
  EXPECT_EQ(bernoulli({4}, 0.5, kInt32).dtype(), kInt32);
  EXPECT_EQ(bernoulli({4}, 0.5, kFloat16).dtype(), kFloat16);
}

TEST_F(Random, BernoulliScalarRejectsBadP) {
  EXPECT_ERROR_HAS(bernoulli({3}, 1.5), "bernoulli: expected a probability p in [0, 1], got 1.5");
  EXPECT_THROW(bernoulli({3}, -0.1), Error);
  EXPECT_THROW(bernoulli({3}, std::nan("")), Error);
}

TEST_F(Random, BernoulliTensorExactForZeroAndOne) {
  Tensor p = tensor<float>({0, 1, 1, 0, 1}, {5});
  EXPECT_EQ(bernoulli(p).to_vector<float>(), (std::vector<float>{0, 1, 1, 0, 1}));
}

TEST_F(Random, BernoulliTensorMeanF64) {
  Tensor p = full({100000}, 0.7, kFloat64);
  Tensor out = bernoulli(p);
  EXPECT_EQ(out.dtype(), kFloat64);
  EXPECT_NEAR(mean_of(out.to_vector<double>()), 0.7, 0.01);
}

TEST_F(Random, BernoulliTensorKeepsShapeAndNonContiguousInput) {
  Tensor p = tensor<float>({0, 0, 0, 1, 1, 1}, {2, 3}).t();  // [3, 2], rows (0,1)
  Tensor out = bernoulli(p);
  EXPECT_EQ(shape_str(out.sizes()), "[3, 2]");
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{0, 1, 0, 1, 0, 1}));
}

TEST_F(Random, BernoulliTensorHalf) {
  Tensor p = full({10}, 1.0, kFloat16);
  Tensor out = bernoulli(p);
  EXPECT_EQ(out.dtype(), kFloat16);
  for (float x : out.to_vector<float>()) EXPECT_EQ(x, 1.0f);
}

TEST_F(Random, BernoulliTensorRejectsOutOfRange) {
  EXPECT_ERROR_HAS(bernoulli(tensor<float>({0.5f, 1.5f}, {2})),
                   "expected probabilities in [0, 1], got 1.5 at element 1");
  EXPECT_THROW(bernoulli(tensor<float>({-0.5f}, {1})), Error);
  EXPECT_THROW(bernoulli(tensor<double>({std::nan("")}, {1})), Error);
}

TEST_F(Random, BernoulliTensorRejectsIntegers) {
  EXPECT_ERROR_HAS(bernoulli(tensor<int64_t>({0, 1}, {2})), "expected floating probabilities");
}

// ---- randperm

TEST_F(Random, RandpermIsAPermutation) {
  for (int64_t n : {1, 2, 3, 10, 1000}) {
    std::vector<int64_t> v = randperm(n).to_vector<int64_t>();
    std::sort(v.begin(), v.end());
    std::vector<int64_t> want(static_cast<size_t>(n));
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(v, want) << n;
  }
}

TEST_F(Random, RandpermShuffles) {
  const std::vector<int64_t> v = randperm(100).to_vector<int64_t>();
  int fixed = 0;
  for (int64_t i = 0; i < 100; ++i) fixed += v[static_cast<size_t>(i)] == i;
  EXPECT_LT(fixed, 10);  // a uniform permutation fixes about one point
}

TEST_F(Random, RandpermIsReproducible) {
  manual_seed(5);
  const auto a = randperm(50).to_vector<int64_t>();
  manual_seed(5);
  EXPECT_EQ(a, randperm(50).to_vector<int64_t>());
}

TEST_F(Random, RandpermFirstElementIsUniform) {
  std::vector<int> hist(4, 0);
  for (int i = 0; i < 4000; ++i) ++hist[static_cast<size_t>(randperm(4).to_vector<int64_t>()[0])];
  for (int h : hist) EXPECT_NEAR(h, 1000, 150);
}

TEST_F(Random, RandpermEmptyAndDtypes) {
  EXPECT_EQ(randperm(0).numel(), 0);
  Tensor t = randperm(10, kInt32);
  EXPECT_EQ(t.dtype(), kInt32);
  std::vector<int32_t> v = t.to_vector<int32_t>();
  std::sort(v.begin(), v.end());
  EXPECT_EQ(v.front(), 0);
  EXPECT_EQ(v.back(), 9);
  EXPECT_EQ(randperm(5, kFloat32).dtype(), kFloat32);
}

TEST_F(Random, RandpermErrors) {
  EXPECT_ERROR_HAS(randperm(-1), "randperm: expected n >= 0, got -1");
  EXPECT_ERROR_HAS(randperm(300, kUInt8), "too large for u8");
  EXPECT_THROW(randperm(3, kBool), Error);
  EXPECT_NO_THROW(randperm(256, kUInt8));
}

// ---- in-place and *_like

TEST_F(Random, UniformInPlaceRange) {
  Tensor t = zeros({1000}, kFloat64);
  Tensor& r = uniform_(t, -2.0, 3.0);
  EXPECT_TRUE(r.is_same(t));
  const auto v = t.to_vector<double>();
  for (double x : v) {
    ASSERT_GE(x, -2.0);
    ASSERT_LT(x, 3.0);
  }
  EXPECT_NEAR(mean_of(v), 0.5, 0.2);
}

TEST_F(Random, UniformInPlaceOnNonContiguousView) {
  Tensor base = zeros({4, 6});
  Tensor view = base.t();  // [6, 4], strided
  uniform_(view, 1.0, 2.0);
  for (float x : base.to_vector<float>()) {
    ASSERT_GE(x, 1.0f);
    ASSERT_LT(x, 2.0f);
  }
}

TEST_F(Random, UniformInPlaceSeededMatchesRand) {
  manual_seed(21);
  Tensor t = zeros({17});
  uniform_(t);
  manual_seed(21);
  EXPECT_EQ(t.to_vector<float>(), rand({17}).to_vector<float>());
}

TEST_F(Random, UniformInPlaceErrors) {
  Tensor i = zeros({3}, kInt64);
  EXPECT_ERROR_HAS(uniform_(i), "uniform_: expected a floating tensor");
  Tensor f = zeros({3});
  EXPECT_ERROR_HAS(uniform_(f, 2.0, 1.0), "uniform_: expected finite bounds with low <= high");
}

TEST_F(Random, NormalInPlace) {
  Tensor t = zeros({50000}, kFloat64);
  normal_(t, -1.0, 0.5);
  const auto v = t.to_vector<double>();
  EXPECT_NEAR(mean_of(v), -1.0, 0.02);
  EXPECT_NEAR(std_of(v), 0.5, 0.02);
}

TEST_F(Random, NormalInPlaceErrors) {
  Tensor f = zeros({3});
  EXPECT_ERROR_HAS(normal_(f, 0.0, -2.0), "normal_: expected a finite std >= 0");
  Tensor b = zeros({3}, kBool);
  EXPECT_ERROR_HAS(normal_(b), "normal_: expected a floating tensor");
}

TEST_F(Random, LikeVariantsKeepShapeAndDtype) {
  Tensor x = zeros({2, 5}, kFloat64);
  Tensor a = rand_like(x), b = randn_like(x);
  EXPECT_EQ(a.dtype(), kFloat64);
  EXPECT_EQ(b.dtype(), kFloat64);
  EXPECT_EQ(shape_str(a.sizes()), "[2, 5]");
  EXPECT_EQ(shape_str(b.sizes()), "[2, 5]");
  EXPECT_ERROR_HAS(rand_like(zeros({2}, kInt32)), "rand_like: expected a floating tensor");
  EXPECT_ERROR_HAS(randn_like(zeros({2}, kInt64)), "randn_like: expected a floating tensor");
}

// ---- the op table: flags and replay from attributes

TEST_F(Random, OpsAreRegisteredAsRandom) {
  for (const char* name :
       {"rand", "randn", "randint", "bernoulli", "bernoulli_scalar", "randperm"}) {
    const ops::OpDef* op = ops::find_op(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_TRUE(op->flags & ops::kRandom) << name;
  }
}

TEST_F(Random, ReplayFromAttributesIsDeterministic) {
  const ops::OpDef* op = ops::find_op("randn");
  ASSERT_NE(op, nullptr);
  const ops::Attrs attrs{{"sizes", std::vector<int64_t>{3, 3}},
                         {"dtype", kFloat32},
                         {"mean", 0.0},
                         {"std", 1.0},
                         {"seed", int64_t{77}},
                         {"offset", int64_t{5}}};
  const auto a = ops::call1(*op, {}, attrs).to_vector<float>();
  const auto b = ops::call1(*op, {}, attrs).to_vector<float>();
  EXPECT_EQ(a, b);
  // ...and equals what the eager call drew from a generator at that state.
  Generator g(77);
  g.set_offset(5);
  EXPECT_EQ(a, randn({3, 3}, kFloat32, &g).to_vector<float>());
}
