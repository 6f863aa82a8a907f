// Reductions, scans and softmax: known values, dims/keepdim handling, non-contiguous and
// empty inputs, dtype rules, error messages, and float32 accuracy against float64
// references computed here.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/op.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "test_util.h"

namespace tessera {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kInff = std::numeric_limits<float>::infinity();

Tensor mat23() { return tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}); }
// 2x3x4 with values 0..23.
Tensor cube() { return arange(0, 24, 1, kFloat32).view({2, 3, 4}); }

std::vector<double> dv(const Tensor& t) { return t.to_vector<double>(); }
std::vector<int64_t> iv(const Tensor& t) { return t.to_vector<int64_t>(); }
Shape shp(const Tensor& t) { return Shape(t.sizes()); }

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

void expect_near_vec(const std::vector<double>& got, const std::vector<double>& want,
                     double rtol, double atol = 1e-6) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << "at " << i;
}

// ---------------------------------------------------------------- sum

TEST(ReduceSum, AllElements) {
  Tensor s = sum(mat23());
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.dtype(), kFloat32);
  EXPECT_DOUBLE_EQ(s.item<double>(), 21.0);
}

TEST(ReduceSum, Dim0) { EXPECT_EQ(dv(sum(mat23(), {0})), (std::vector<double>{5, 7, 9})); }
TEST(ReduceSum, Dim1) { EXPECT_EQ(dv(sum(mat23(), {1})), (std::vector<double>{6, 15})); }
TEST(ReduceSum, NegativeDim) { EXPECT_EQ(dv(sum(mat23(), {-1})), (std::vector<double>{6, 15})); }

TEST(ReduceSum, Keepdim) {
  Tensor s = sum(mat23(), {1}, true);
  EXPECT_EQ(shp(s), (Shape{2, 1}));
  EXPECT_EQ(dv(s), (std::vector<double>{6, 15}));
}

TEST(ReduceSum, MultipleDims) {
  Tensor s = sum(cube(), {0, 2});
  EXPECT_EQ(shp(s), (Shape{3}));
  // sum over i,k of i*12 + j*4 + k = 8*(6 + 4j) + 2*... computed directly:
  std::vector<double> want(3, 0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want[j] += i * 12 + j * 4 + k;
  EXPECT_EQ(dv(s), want);
}

TEST(ReduceSum, MultipleDimsKeepdimAndNegative) {
  Tensor s = sum(cube(), {-1, 0}, true);
  EXPECT_EQ(shp(s), (Shape{1, 3, 1}));
  EXPECT_EQ(dv(s), dv(sum(cube(), {0, 2})));
}

TEST(ReduceSum, EmptyDimsMeansAll) {
  EXPECT_DOUBLE_EQ(sum(cube(), {}).item<double>(), 276.0);
  EXPECT_EQ(shp(sum(cube(), {}, true)), (Shape{1, 1, 1}));
}

TEST(ReduceSum, TransposedInput) {
  Tensor t = mat23().t();  // [3, 2], non-contiguous
  ASSERT_FALSE(t.is_contiguous());
  EXPECT_EQ(dv(sum(t, {0})), (std::vector<double>{6, 15}));
  EXPECT_EQ(dv(sum(t, {1})), (std::vector<double>{5, 7, 9}));
  EXPECT_DOUBLE_EQ(sum(t).item<double>(), 21.0);
}

TEST(ReduceSum, SlicedInput) {
  Tensor x = arange(0, 20, 1, kFloat32).view({4, 5}).slice(1, 0, 5, 2);  // cols 0, 2, 4
  EXPECT_EQ(dv(sum(x, {1})), (std::vector<double>{6, 21, 36, 51}));
  EXPECT_EQ(dv(sum(x, {0})), (std::vector<double>{30, 38, 46}));
}

TEST(ReduceSum, PermutedThreeDims) {
  Tensor x = cube().permute({2, 0, 1});  // [4, 2, 3]
  Tensor s = sum(x, {1, 2});
  std::vector<double> want(4, 0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want[k] += i * 12 + j * 4 + k;
  EXPECT_EQ(dv(s), want);
  std::vector<double> over_k;  // sum over the original last dim, laid out [2, 3]
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) over_k.push_back(4 * (i * 12 + j * 4) + 6);
  EXPECT_EQ(dv(sum(x, {0})), over_k);
}

TEST(ReduceSum, ExpandedInput) {
  Tensor x = tensor<float>({1, 2, 3}).expand({4, 3});
  EXPECT_EQ(dv(sum(x, {0})), (std::vector<double>{4, 8, 12}));
  EXPECT_EQ(dv(sum(x, {1})), (std::vector<double>{6, 6, 6, 6}));
}

TEST(ReduceSum, EmptyIsZero) {
  Tensor x = zeros({0, 3});
  EXPECT_DOUBLE_EQ(sum(x).item<double>(), 0.0);
  EXPECT_EQ(dv(sum(x, {0})), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(shp(sum(x, {1})), (Shape{0}));
}

TEST(ReduceSum, IntegersAccumulateInInt64) {
  Tensor x = tensor<int32_t>({2000000000, 2000000000, 2000000000});
  Tensor s = sum(x);
  EXPECT_EQ(s.dtype(), kInt64);
  EXPECT_EQ(s.item<int64_t>(), 6000000000LL);
  EXPECT_EQ(sum(tensor<int8_t>({100, 100})).item<int64_t>(), 200);
  EXPECT_EQ(sum(tensor<uint8_t>({200, 200})).dtype(), kInt64);
}

TEST(ReduceSum, BoolCountsTrue) {
  Tensor s = sum(tensor<bool>({true, false, true, true}));
  EXPECT_EQ(s.dtype(), kInt64);
  EXPECT_EQ(s.item<int64_t>(), 3);
}

TEST(ReduceSum, DtypeArgument) {
  Tensor s = sum(tensor<int32_t>({1, 2, 3}), {}, false, kFloat64);
  EXPECT_EQ(s.dtype(), kFloat64);
  EXPECT_DOUBLE_EQ(s.item<double>(), 6.0);
  Tensor f = sum(mat23(), {1}, false, kInt32);
  EXPECT_EQ(f.dtype(), kInt32);
  EXPECT_EQ(iv(f), (std::vector<int64_t>{6, 15}));
}

TEST(ReduceSum, Float64) {
  Tensor x = tensor<double>({0.1, 0.2, 0.3});
  EXPECT_EQ(sum(x).dtype(), kFloat64);
  EXPECT_NEAR(sum(x).item<double>(), 0.6, 1e-15);
}

TEST(ReduceSum, HalfKeepsDtype) {
  Tensor x = mat23().to(kFloat16);
  Tensor s = sum(x, {1});
  EXPECT_EQ(s.dtype(), kFloat16);
  EXPECT_EQ(dv(s), (std::vector<double>{6, 15}));
  EXPECT_EQ(sum(mat23().to(kBFloat16)).dtype(), kBFloat16);
}

TEST(ReduceSum, ZeroDimTensor) {
  Tensor x = scalar_tensor(2.5);
  EXPECT_DOUBLE_EQ(sum(x).item<double>(), 2.5);
  EXPECT_DOUBLE_EQ(sum(x, {0}).item<double>(), 2.5);
  EXPECT_DOUBLE_EQ(sum(x, {-1}, true).item<double>(), 2.5);
  EXPECT_EQ(sum(x, {0}, true).dim(), 0);
  EXPECT_ERROR_HAS(sum(x, {1}), "out of range");
}

TEST(ReduceSum, DuplicateDimsError) {
  EXPECT_THROW(sum(mat23(), {1, 1}), Error);
  EXPECT_ERROR_HAS(sum(mat23(), {1, -1}), "more than once");
  EXPECT_ERROR_HAS(sum(mat23(), {0, -2}), "dim 0 appears more than once");
}

TEST(ReduceSum, OutOfRangeDimError) {
  EXPECT_THROW(sum(mat23(), {2}), Error);
  const std::string msg = error_of([] { sum(mat23(), {2}); });
  EXPECT_NE(msg.find("dim 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 2"), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("sum: ", 0), 0u) << msg;  // the op and input are named first
  EXPECT_NE(msg.find("[2, 3] f32"), std::string::npos) << msg;
  EXPECT_ERROR_HAS(sum(mat23(), {-3}), "dim -3");
}

TEST(ReduceSum, MemberFunction) {
  EXPECT_DOUBLE_EQ(mat23().sum().item<double>(), 21.0);
  EXPECT_DOUBLE_EQ(mat23().mean().item<double>(), 3.5);
}

TEST(ReduceSum, LargeFloat32RowIsAccurate) {
  const size_t n = 1 << 20;
  std::vector<float> v = random_floats(n, 1, 0.f, 1.f);
  double ref = 0;
  for (float f : v) ref += f;
  const double got = sum(tensor<float>(v)).item<double>();
  EXPECT_LT(std::fabs(got - ref) / ref, 1e-6);
}

TEST(ReduceSum, LargeFloat32ColumnsAreAccurate) {
  const int64_t rows = 5000, cols = 37;
  std::vector<float> v = random_floats(static_cast<size_t>(rows * cols), 2, 0.f, 1.f);
  Tensor x = tensor<float>(v, {rows, cols});
  std::vector<double> ref(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) ref[static_cast<size_t>(c)] += v[static_cast<size_t>(r * cols + c)];
  expect_near_vec(dv(sum(x, {0})), ref, 1e-6);
  // The same reduction on the transposed tensor walks columns as rows.
  expect_near_vec(dv(sum(x.t(), {1})), ref, 1e-6);
}

TEST(ReduceSum, ManyRowsMatchReference) {
  const int64_t rows = 300, cols = 129;
  std::vector<float> v = random_floats(static_cast<size_t>(rows * cols), 3);
  Tensor x = tensor<float>(v, {rows, cols});
  std::vector<double> ref(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) ref[static_cast<size_t>(r)] += v[static_cast<size_t>(r * cols + c)];
  expect_near_vec(dv(sum(x, {1})), ref, 1e-5, 1e-5);
}

TEST(ReduceSum, ResultDoesNotDependOnThreadCount) {
  const int saved = get_num_threads();
  std::vector<float> v = random_floats(400000, 4);
  Tensor x = tensor<float>(v, {400, 1000});
  set_num_threads(1);
  const auto all1 = dv(sum(x)), rows1 = dv(sum(x, {1})), cols1 = dv(sum(x, {0}));
  set_num_threads(3);
  const auto all3 = dv(sum(x)), rows3 = dv(sum(x, {1})), cols3 = dv(sum(x, {0}));
  set_num_threads(saved);
  EXPECT_EQ(all1, all3);
  EXPECT_EQ(rows1, rows3);
  EXPECT_EQ(cols1, cols3);
}

TEST(ReduceSum, ColumnChunksDoNotDependOnThreadCount) {
  const int saved = get_num_threads();
  Tensor x = tensor<float>(random_floats(3000 * 300, 12), {3000, 300});
  set_num_threads(1);
  const auto one = dv(sum(x, {0}));
  const auto var_one = dv(var(x, {0}));
  set_num_threads(2);
  const auto two = dv(sum(x, {0}));
  const auto var_two = dv(var(x, {0}));
  set_num_threads(saved);
  EXPECT_EQ(one, two);
  EXPECT_EQ(var_one, var_two);
}

TEST(ReduceSum, WideColumnsSpanSeveralTiles) {
  const int64_t rows = 3, cols = 600;
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 97);
  std::vector<double> want(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[static_cast<size_t>(c)] += v[static_cast<size_t>(r * cols + c)];
  EXPECT_EQ(dv(sum(tensor<float>(v, {rows, cols}), {0})), want);
  EXPECT_EQ(dv(sum(tensor<float>(v, {rows, cols}).to(kInt64), {0})), want);
}

TEST(ReduceSum, IntegerColumnsAndRows) {
  Tensor x = tensor<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  EXPECT_EQ(iv(sum(x, {0})), (std::vector<int64_t>{6, 8, 10, 12}));
  EXPECT_EQ(iv(sum(x.t(), {0})), (std::vector<int64_t>{10, 26}));
  EXPECT_EQ(iv(prod(x, {1})), (std::vector<int64_t>{24, 1680}));
}

// ---------------------------------------------------------------- mean

// ---- channel statistics: a contiguous [A, C, B] (NCHW) reduced over all dims but C.
// These take the plane-order path of reduce.cc (each (n, c) plane summed on its own, the
// planes then merged per channel in order of n).

// Per-channel double sums of an NCHW tensor's values v.
std::vector<double> channel_sums(const std::vector<float>& v, int64_t N, int64_t C, int64_t HW) {
  std::vector<double> ref(static_cast<size_t>(C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i)
        ref[static_cast<size_t>(c)] += v[static_cast<size_t>((n * C + c) * HW + i)];
  return ref;
}

TEST(ReduceSumChannels, MatchesDoubleReference) {
  // 24x24 planes (a CNN's conv bias gradient), then odd sizes that leave vector tails.
  for (const Shape& s : {Shape{16, 8, 24, 24}, Shape{3, 5, 7, 9}, Shape{2, 3, 1, 13}}) {
    const int64_t HW = s[2] * s[3];
    std::vector<float> v = random_floats(static_cast<size_t>(numel_of(s)), 21, 0.f, 1.f);
    Tensor x = tensor<float>(v, s);
    const std::vector<double> ref = channel_sums(v, s[0], s[1], HW);
    expect_near_vec(dv(sum(x, {0, 2, 3})), ref, 1e-6);
    // keepdim gives [1, C, 1, 1] with the same values; negative dims are the same dims.
    Tensor k = sum(x, {0, -2, -1}, true);
    EXPECT_EQ(shp(k), (Shape{1, s[1], 1, 1}));
    expect_near_vec(dv(k), ref, 1e-6);
    std::vector<double> mref = ref;
    for (double& m : mref) m /= static_cast<double>(s[0] * HW);
    expect_near_vec(dv(mean(x, {0, 2, 3})), mref, 1e-6);
  }
}

TEST(ReduceSumChannels, LongPlanesAreCutAndStayAccurate) {
  // Planes of 40000 elements span three 16384-element chunks. The sums are ~8e8, where a
  // float running sum would step by 64 per add: blocked float partials merged in double
  // keep the relative error near float's epsilon.
  const int64_t N = 2, C = 3, HW = 40000;
  std::vector<float> v = random_floats(static_cast<size_t>(N * C * HW), 22, 1e4f, 1.1e4f);
  Tensor x = tensor<float>(v, {N, C, 200, 200});
  expect_near_vec(dv(sum(x, {0, 2, 3})), channel_sums(v, N, C, HW), 1e-6);
}

TEST(ReduceSumChannels, ResultDoesNotDependOnThreadCount) {
  const int saved = get_num_threads();
  Tensor x = tensor<float>(random_floats(32 * 16 * 26 * 26, 23), {32, 16, 26, 26});
  Tensor big = tensor<float>(random_floats(2 * 3 * 40000, 24), {2, 3, 200, 200});
  set_num_threads(1);
  const auto s1 = dv(sum(x, {0, 2, 3})), v1 = dv(var(x, {0, 2, 3})), b1 = dv(sum(big, {0, 2, 3}));
  set_num_threads(2);
  const auto s2 = dv(sum(x, {0, 2, 3})), v2 = dv(var(x, {0, 2, 3})), b2 = dv(sum(big, {0, 2, 3}));
  set_num_threads(3);
  const auto s3 = dv(sum(x, {0, 2, 3})), v3 = dv(var(x, {0, 2, 3})), b3 = dv(sum(big, {0, 2, 3}));
  set_num_threads(saved);
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(s1, s3);
  EXPECT_EQ(v1, v2);
  EXPECT_EQ(v1, v3);
  EXPECT_EQ(b1, b2);
  EXPECT_EQ(b1, b3);
}

TEST(ReduceSumChannels, OtherReducersAndDtypes) {
  const int64_t N = 4, C = 3, H = 5, W = 6, HW = H * W;
  std::vector<float> v = random_floats(static_cast<size_t>(N * C * HW), 25, -2.f, 2.f);
  v[static_cast<size_t>((2 * C + 1) * HW + 7)] = 9.f;     // channel 1's max
  v[static_cast<size_t>((3 * C + 2) * HW + 3)] = kNaNf;   // channel 2 is NaN
  Tensor x = tensor<float>(v, {N, C, H, W});
  const auto mx = dv(amax(x, {0, 2, 3}));
  ASSERT_EQ(mx.size(), 3u);
  double m0 = -kInf;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) m0 = std::max(m0, double(v[static_cast<size_t>(n * C * HW + i)]));
  EXPECT_EQ(mx[0], m0);
  EXPECT_EQ(mx[1], 9.0);
  EXPECT_TRUE(std::isnan(mx[2]));
  // var (its mean and squared-deviation passes) and logsumexp against double.
  v[static_cast<size_t>((3 * C + 2) * HW + 3)] = 0.5f;
  x = tensor<float>(v, {N, C, H, W});
  const std::vector<double> s = channel_sums(v, N, C, HW);
  std::vector<double> var_ref(3, 0.0), lse_ref(3, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const double e = v[static_cast<size_t>((n * C + c) * HW + i)];
        const double d = e - s[static_cast<size_t>(c)] / double(N * HW);
        var_ref[static_cast<size_t>(c)] += d * d / double(N * HW - 1);
        lse_ref[static_cast<size_t>(c)] += std::exp(e);
      }
  for (double& l : lse_ref) l = std::log(l);
  expect_near_vec(dv(var(x, {0, 2, 3})), var_ref, 1e-5);
  expect_near_vec(dv(logsumexp(x, {0, 2, 3})), lse_ref, 1e-5);
  // float64 and integers take the same path.
  expect_near_vec(dv(sum(x.to(kFloat64), {0, 2, 3})), s, 1e-12);
  Tensor ints = arange(0, N * C * HW, 1, kInt64).view({N, C, H, W});
  std::vector<double> iref(3, 0.0);
  for (int64_t i = 0; i < N * C * HW; ++i) iref[static_cast<size_t>((i / HW) % C)] += double(i);
  EXPECT_EQ(dv(sum(ints, {0, 2, 3})), iref);
  // A permuted (non-contiguous) view is not [A, C, B] in memory; it must give the same sums.
  Tensor p = x.permute({1, 0, 2, 3}).contiguous().permute({1, 0, 2, 3});
  expect_near_vec(dv(sum(p, {0, 2, 3})), s, 1e-6);
  // Slices: along N the layout stays [A, C, B] from an offset; along C or W it does not.
  const auto part_sums = [&](int64_t n0, int64_t n1, int64_t c0, int64_t c1, int64_t w1) {
    std::vector<double> r;
    for (int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < w1; ++w) acc += v[static_cast<size_t>(((n * C + c) * H + h) * W + w)];
      r.push_back(acc);
    }
    return r;
  };
  expect_near_vec(dv(sum(x.slice(0, 1, 3), {0, 2, 3})), part_sums(1, 3, 0, C, W), 1e-6);
  expect_near_vec(dv(sum(x.slice(1, 1, 3), {0, 2, 3})), part_sums(0, N, 1, 3, W), 1e-6);
  expect_near_vec(dv(sum(x.slice(3, 0, 4), {0, 2, 3})), part_sums(0, N, 0, C, 4), 1e-6);
}

TEST(ReduceMean, KnownValues) {
  EXPECT_DOUBLE_EQ(mean(mat23()).item<double>(), 3.5);
  EXPECT_EQ(dv(mean(mat23(), {0})), (std::vector<double>{2.5, 3.5, 4.5}));
  EXPECT_EQ(dv(mean(mat23(), {1})), (std::vector<double>{2, 5}));
}

TEST(ReduceMean, KeepdimMultipleDims) {
  Tensor m = mean(cube(), {0, 1}, true);
  EXPECT_EQ(shp(m), (Shape{1, 1, 4}));
  EXPECT_EQ(dv(m), (std::vector<double>{10, 11, 12, 13}));
}

TEST(ReduceMean, IntegerInputIsAnError) {
  EXPECT_THROW(mean(tensor<int64_t>({1, 2})), Error);
  EXPECT_ERROR_HAS(mean(tensor<int64_t>({1, 2})), "floating point");
  EXPECT_ERROR_HAS(mean(tensor<bool>({true})), "got bool");
}

TEST(ReduceMean, EmptyIsNaN) { EXPECT_TRUE(std::isnan(mean(zeros({0})).item<double>())); }

TEST(ReduceMean, ReducedFloats) {
  Tensor m = mean(mat23().to(kBFloat16), {1});
  EXPECT_EQ(m.dtype(), kBFloat16);
  EXPECT_EQ(dv(m), (std::vector<double>{2, 5}));
}

TEST(ReduceMean, TransposedInput) {
  EXPECT_EQ(dv(mean(mat23().t(), {1})), (std::vector<double>{2.5, 3.5, 4.5}));
}

// ---------------------------------------------------------------- prod

TEST(ReduceProd, KnownValues) {
  EXPECT_DOUBLE_EQ(prod(mat23()).item<double>(), 720.0);
  EXPECT_EQ(dv(prod(mat23(), {0})), (std::vector<double>{4, 10, 18}));
  EXPECT_EQ(dv(prod(mat23(), {1}, true)), (std::vector<double>{6, 120}));
}

TEST(ReduceProd, IntegersGiveInt64) {
  Tensor p = prod(tensor<int32_t>({100000, 100000}));
  EXPECT_EQ(p.dtype(), kInt64);
  EXPECT_EQ(p.item<int64_t>(), 10000000000LL);
  EXPECT_EQ(prod(tensor<bool>({true, true})).dtype(), kInt64);
}

TEST(ReduceProd, EmptyIsOne) {
  EXPECT_DOUBLE_EQ(prod(zeros({0})).item<double>(), 1.0);
  EXPECT_EQ(dv(prod(zeros({0, 2}), {0})), (std::vector<double>{1, 1}));
}

TEST(ReduceProd, NaNAndZero) {
  EXPECT_TRUE(std::isnan(prod(tensor<float>({1, kNaNf, 0})).item<double>()));
  EXPECT_DOUBLE_EQ(prod(tensor<float>({5, 0, 3})).item<double>(), 0.0);
}

// ---------------------------------------------------------------- amax / amin / max / min

TEST(ReduceAmax, KnownValues) {
  Tensor x = tensor<float>({3, 1, 4, 1, 5, 9}, {2, 3});
  EXPECT_EQ(dv(amax(x, {0})), (std::vector<double>{3, 5, 9}));
  EXPECT_EQ(dv(amax(x, {1})), (std::vector<double>{4, 9}));
  EXPECT_EQ(dv(amin(x, {1})), (std::vector<double>{1, 1}));
  EXPECT_DOUBLE_EQ(amin(x).item<double>(), 1.0);
}

TEST(ReduceAmax, MultipleDimsKeepdim) {
  Tensor m = amax(cube(), {0, 2}, true);
  EXPECT_EQ(shp(m), (Shape{1, 3, 1}));
  EXPECT_EQ(dv(m), (std::vector<double>{15, 19, 23}));
  EXPECT_EQ(dv(amin(cube(), {1, 2})), (std::vector<double>{0, 12}));
}

TEST(ReduceAmax, NaNPropagates) {
  Tensor x = tensor<float>({1, kNaNf, 3, 4, 5, 6}, {2, 3});
  const auto r = dv(amax(x, {1}));
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_DOUBLE_EQ(r[1], 6.0);
  EXPECT_TRUE(std::isnan(amin(x).item<double>()));
  const auto c = dv(amin(x, {0}));
  EXPECT_DOUBLE_EQ(c[0], 1.0);
  EXPECT_TRUE(std::isnan(c[1]));
}

TEST(ReduceAmax, NaNPropagatesInLongRows) {
  std::vector<float> v = random_floats(50000, 5);
  v[33333] = kNaNf;
  EXPECT_TRUE(std::isnan(amax(tensor<float>(v)).item<double>()));
  EXPECT_TRUE(std::isnan(amin(tensor<float>(v)).item<double>()));
}

// Rows long enough for the vectorized lanes, with infinities (which take the exact path)
// and NaNs in the lanes and the tail, against a scalar loop.
TEST(ReduceAmax, LongRowsMatchAScalarReference) {
  for (int64_t n : {16, 17, 40, 1000}) {
    std::vector<float> base = random_floats(static_cast<size_t>(n), static_cast<unsigned>(n));
    std::vector<std::vector<float>> rows{base};
    for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
      for (float special : {kInff, -kInff, kNaNf}) {
        std::vector<float> r = base;
        r[static_cast<size_t>(at)] = special;
        rows.push_back(r);
      }
    }
    rows.push_back(std::vector<float>(static_cast<size_t>(n), -kInff));
    std::vector<float> flat;
    for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
    const int64_t m = static_cast<int64_t>(rows.size());
    for (DType t : {kFloat32, kFloat64}) {
      const Tensor x = tensor<float>(flat, {m, n}).to(t);
      const std::vector<double> mx = amax(x, {1}).to(kFloat64).to_vector<double>();
      const std::vector<double> mn = amin(x, {1}).to(kFloat64).to_vector<double>();
      for (int64_t i = 0; i < m; ++i) {
        double hi = -INFINITY, lo = INFINITY;
        bool nan = false;
        for (float v : rows[static_cast<size_t>(i)]) {
          nan = nan || std::isnan(v);
          hi = std::max(hi, static_cast<double>(v));
          lo = std::min(lo, static_cast<double>(v));
        }
        const size_t k = static_cast<size_t>(i);
        if (nan) {
          EXPECT_TRUE(std::isnan(mx[k]) && std::isnan(mn[k])) << "n " << n << " row " << i;
        } else {
          EXPECT_EQ(mx[k], hi) << "n " << n << " row " << i;
          EXPECT_EQ(mn[k], lo) << "n " << n << " row " << i;
        }
      }
    }
  }
}

// argmax / argmin over contiguous rows run 16 vector lanes that each keep their first
// extremum, merged by value and then by index; a NaN sends the row to the scalar rule.
// Against that rule written here: the first extremum, or the first NaN. Rows with many
// ties (values from {0, 1, 2}), +-0 together, infinities, NaNs at the start, middle and end,
// and lengths around the lane count and past the engine's chunk (16384 elements).
TEST(ReduceArgmax, LongRowsGiveTheFirstExtremum) {
  std::mt19937 gen(5);
  for (int64_t n : {15, 16, 17, 33, 1000, 20000}) {
    std::vector<std::vector<float>> rows;
    std::vector<float> ties(static_cast<size_t>(n));
    for (float& v : ties) v = static_cast<float>(gen() % 3);
    rows.push_back(ties);
    rows.push_back(random_floats(static_cast<size_t>(n), static_cast<unsigned>(n)));
    std::vector<float> zeros(static_cast<size_t>(n));
    for (size_t i = 0; i < zeros.size(); ++i) zeros[i] = (gen() % 2) ? 0.f : -0.f;
    rows.push_back(zeros);
    rows.push_back(std::vector<float>(static_cast<size_t>(n), -kInff));
    for (int64_t at : {int64_t{0}, n / 2, n - 1})
      for (float special : {kInff, -kInff, kNaNf}) {
        std::vector<float> r = ties;
        r[static_cast<size_t>(at)] = special;
        if (special != special && at + 3 < n) r[static_cast<size_t>(at + 3)] = special;  // a second NaN after it
        rows.push_back(r);
      }
    std::vector<float> flat;
    for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
    const int64_t m = static_cast<int64_t>(rows.size());
    for (DType t : {kFloat32, kFloat64}) {
      const Tensor x = tensor<float>(flat, {m, n}).to(t);
      const std::vector<int64_t> hi = argmax(x, 1).to_vector<int64_t>(), lo = argmin(x, 1).to_vector<int64_t>();
      for (int64_t i = 0; i < m; ++i) {
        const std::vector<float>& r = rows[static_cast<size_t>(i)];
        int64_t want_hi = 0, want_lo = 0;
        for (int64_t k = 0; k < n; ++k) {
          const float v = r[static_cast<size_t>(k)];
          const float h = r[static_cast<size_t>(want_hi)], l = r[static_cast<size_t>(want_lo)];
          if (!std::isnan(h) && (std::isnan(v) || v > h)) want_hi = k;
          if (!std::isnan(l) && (std::isnan(v) || v < l)) want_lo = k;
        }
        EXPECT_EQ(hi[static_cast<size_t>(i)], want_hi) << "n " << n << " row " << i << " " << dtype_name(t);
        EXPECT_EQ(lo[static_cast<size_t>(i)], want_lo) << "n " << n << " row " << i << " " << dtype_name(t);
      }
    }
  }
}

// A row of -0 reduces to -0, also past the first 16384-element chunk, whose result seeds
// the next chunk's vector lanes.
TEST(ReduceAmax, NegativeZeroRowsKeepTheirSign) {
  for (int64_t n : {20, 40000})
    for (DType t : {kFloat32, kFloat64}) {
      const Tensor x = full({2, n}, -0.0, t);
      for (const Tensor& r : {amax(x, {1}), amin(x, {1})})
        for (double v : r.to(kFloat64).to_vector<double>())
          EXPECT_TRUE(v == 0 && std::signbit(v)) << "n " << n << " " << dtype_name(t) << ": " << v;
    }
}

TEST(ReduceAmax, Infinities) {
  EXPECT_EQ(amax(tensor<float>({-kInff, -kInff})).item<double>(), -kInf);
  EXPECT_EQ(amin(tensor<float>({kInff, kInff})).item<double>(), kInf);
  EXPECT_EQ(amax(tensor<float>({-kInff, kInff, 0})).item<double>(), kInf);
}

TEST(ReduceAmax, EmptyReductionIsAnError) {
  EXPECT_THROW(amax(zeros({0, 3}), {0}), Error);
  EXPECT_ERROR_HAS(amax(zeros({0, 3}), {0}), "size 0");
  EXPECT_ERROR_HAS(amin(zeros({0})), "amin: ");
  // Reducing the non-empty dim of an empty tensor is fine.
  EXPECT_EQ(shp(amax(zeros({0, 3}), {1})), (Shape{0}));
}

TEST(ReduceAmax, IntegerAndBool) {
  Tensor x = tensor<int64_t>({-5, 7, 2});
  EXPECT_EQ(amax(x).dtype(), kInt64);
  EXPECT_EQ(amax(x).item<int64_t>(), 7);
  EXPECT_EQ(amin(x).item<int64_t>(), -5);
  EXPECT_EQ(amax(tensor<int8_t>({-128, -100})).item<int64_t>(), -100);
  Tensor b = tensor<bool>({false, true, false});
  EXPECT_EQ(amax(b).dtype(), kBool);
  EXPECT_TRUE(amax(b).item<bool>());
  EXPECT_FALSE(amin(b).item<bool>());
}

TEST(ReduceAmax, TransposedColumns) {
  Tensor x = arange(0, 40, 1, kFloat32).view({5, 8});
  EXPECT_EQ(dv(amax(x.t(), {1})), dv(amax(x, {0})));
  EXPECT_EQ(dv(amax(x, {0})), (std::vector<double>{32, 33, 34, 35, 36, 37, 38, 39}));
  EXPECT_EQ(dv(amin(x.t(), {0})), (std::vector<double>{0, 8, 16, 24, 32}));
}

TEST(ReduceAmax, HalfInput) {
  Tensor x = tensor<float>({1.5f, -2.f, 0.25f}).to(kFloat16);
  EXPECT_EQ(amax(x).dtype(), kFloat16);
  EXPECT_DOUBLE_EQ(amax(x).item<double>(), 1.5);
}

TEST(ReduceMaxAll, KnownValues) {
  EXPECT_DOUBLE_EQ(max(mat23()).item<double>(), 6.0);
  EXPECT_DOUBLE_EQ(min(mat23()).item<double>(), 1.0);
  EXPECT_EQ(max(mat23()).dim(), 0);
}

TEST(ReduceMaxAll, EmptyIsAnError) {
  EXPECT_THROW(max(zeros({0})), Error);
  EXPECT_THROW(min(zeros({2, 0})), Error);
}

TEST(ReduceMaxDim, ValuesAndIndices) {
  Tensor x = tensor<float>({3, 1, 4, 1, 5, 9}, {2, 3});
  auto [v, i] = max(x, 1);
  EXPECT_EQ(dv(v), (std::vector<double>{4, 9}));
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(iv(i), (std::vector<int64_t>{2, 2}));
  auto [v0, i0] = min(x, 0);
  EXPECT_EQ(dv(v0), (std::vector<double>{1, 1, 4}));
  EXPECT_EQ(iv(i0), (std::vector<int64_t>{1, 0, 0}));
}

TEST(ReduceMaxDim, TiesGiveFirstOccurrence) {
  Tensor x = tensor<float>({2, 7, 7, 1, 7}, {1, 5});
  EXPECT_EQ(iv(max(x, 1).second), (std::vector<int64_t>{1}));
  Tensor y = tensor<float>({4, 0, 0, 0}, {4, 1});
  EXPECT_EQ(iv(min(y, 0).second), (std::vector<int64_t>{1}));
}

TEST(ReduceMaxDim, NaNWinsWithItsFirstIndex) {
  Tensor x = tensor<float>({1, kNaNf, 9, kNaNf}, {1, 4});
  auto [v, i] = max(x, -1);
  EXPECT_TRUE(std::isnan(v.item<double>()));
  EXPECT_EQ(i.item<int64_t>(), 1);
  auto [mv, mi] = min(x, -1);
  EXPECT_TRUE(std::isnan(mv.item<double>()));
  EXPECT_EQ(mi.item<int64_t>(), 1);
}

TEST(ReduceMaxDim, Keepdim) {
  auto [v, i] = min(cube(), 1, true);
  EXPECT_EQ(shp(v), (Shape{2, 1, 4}));
  EXPECT_EQ(shp(i), (Shape{2, 1, 4}));
  EXPECT_EQ(iv(i), (std::vector<int64_t>(8, 0)));
}

TEST(ReduceMaxDim, NonContiguousInput) {
  Tensor x = tensor<float>({5, 1, 8, 2, 9, 0, 3, 7}, {2, 4});
  auto [v, i] = max(x.t(), 0);  // per original row
  EXPECT_EQ(dv(v), (std::vector<double>{8, 9}));
  EXPECT_EQ(iv(i), (std::vector<int64_t>{2, 0}));
  auto [v1, i1] = max(x.t(), 1);  // per original column (walked as strided rows)
  EXPECT_EQ(dv(v1), (std::vector<double>{9, 1, 8, 7}));
  EXPECT_EQ(iv(i1), (std::vector<int64_t>{1, 0, 0, 1}));
}

TEST(ReduceMaxDim, ColumnTiles) {
  // Wide enough for the tiled column loop; the argmax of each column is known.
  const int64_t rows = 7, cols = 100;
  std::vector<float> v(static_cast<size_t>(rows * cols), 0.f);
  for (int64_t c = 0; c < cols; ++c) v[static_cast<size_t>((c % rows) * cols + c)] = 1.f;
  auto [val, idx] = max(tensor<float>(v, {rows, cols}), 0);
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(iv(idx)[static_cast<size_t>(c)], c % rows);
  EXPECT_EQ(dv(val), std::vector<double>(static_cast<size_t>(cols), 1.0));
}

TEST(ReduceMaxDim, Errors) {
  EXPECT_ERROR_HAS(max(mat23(), 2), "dim 2 is out of range for a tensor of rank 2");
  EXPECT_ERROR_HAS(min(zeros({3, 0}), 1), "size 0");
  EXPECT_EQ(shp(max(zeros({0, 3}), 1).first), (Shape{0}));
}

TEST(ReduceMaxDim, IntegersKeepDtype) {
  auto [v, i] = max(tensor<int32_t>({3, -2, 8, 8}, {2, 2}), 1);
  EXPECT_EQ(v.dtype(), kInt32);
  EXPECT_EQ(iv(v), (std::vector<int64_t>{3, 8}));
  EXPECT_EQ(iv(i), (std::vector<int64_t>{0, 0}));
}

// ---------------------------------------------------------------- argmax / argmin

TEST(ReduceArgmax, Flattened) {
  Tensor x = tensor<float>({3, 1, 4, 1, 5, 9}, {2, 3});
  Tensor a = argmax(x);
  EXPECT_EQ(a.dtype(), kInt64);
  EXPECT_EQ(a.dim(), 0);
  EXPECT_EQ(a.item<int64_t>(), 5);
  EXPECT_EQ(argmin(x).item<int64_t>(), 1);  // first of the two 1s
}

TEST(ReduceArgmax, AlongDim) {
  Tensor x = tensor<float>({3, 1, 4, 1, 5, 9}, {2, 3});
  EXPECT_EQ(iv(argmax(x, 0)), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(iv(argmax(x, -1)), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(iv(argmin(x, 1)), (std::vector<int64_t>{1, 0}));
}

TEST(ReduceArgmax, Keepdim) {
  EXPECT_EQ(shp(argmax(mat23(), std::nullopt, true)), (Shape{1, 1}));
  EXPECT_EQ(argmax(mat23(), std::nullopt, true).item<int64_t>(), 5);
  EXPECT_EQ(shp(argmin(cube(), 1, true)), (Shape{2, 1, 4}));
}

TEST(ReduceArgmax, FlattenedIndexIsLogicalOnNonContiguous) {
  Tensor x = tensor<float>({0, 1, 2, 9, 4, 5}, {2, 3}).t();  // [[0, 9], [1, 4], [2, 5]]
  EXPECT_EQ(argmax(x).item<int64_t>(), 1);
  EXPECT_EQ(argmin(x).item<int64_t>(), 0);
  Tensor y = tensor<float>({7, 1, 2, 0, 4, 5}, {2, 3}).t();  // [[7, 0], [1, 4], [2, 5]]
  EXPECT_EQ(argmin(y).item<int64_t>(), 1);
}

TEST(ReduceArgmax, NaNIsTheExtremum) {
  Tensor x = tensor<float>({1, 2, kNaNf, 5, kNaNf});
  EXPECT_EQ(argmax(x).item<int64_t>(), 2);
  EXPECT_EQ(argmin(x).item<int64_t>(), 2);
}

TEST(ReduceArgmax, LongRowFirstOccurrenceAcrossChunks) {
  std::vector<float> v(100000, 0.f);
  v[70000] = 3.f;
  v[90000] = 3.f;
  v[20000] = -3.f;
  v[99999] = -3.f;
  Tensor x = tensor<float>(v);
  EXPECT_EQ(argmax(x).item<int64_t>(), 70000);
  EXPECT_EQ(argmin(x).item<int64_t>(), 20000);
}

TEST(ReduceArgmax, AllEqualGivesZero) {
  EXPECT_EQ(argmax(full({40000}, -kInf)).item<int64_t>(), 0);
  EXPECT_EQ(argmin(full({5}, 2.0)).item<int64_t>(), 0);
}

TEST(ReduceArgmax, Errors) {
  EXPECT_ERROR_HAS(argmax(zeros({0})), "empty");
  EXPECT_ERROR_HAS(argmin(zeros({2, 0}), 1), "size 0");
  EXPECT_ERROR_HAS(argmax(mat23(), 3), "out of range");
}

TEST(ReduceArgmax, ZeroDimTensor) {
  EXPECT_EQ(argmax(scalar_tensor(4.0)).item<int64_t>(), 0);
  EXPECT_EQ(argmin(scalar_tensor(4.0), 0).item<int64_t>(), 0);
  auto [v, i] = max(scalar_tensor(4.0), -1);
  EXPECT_DOUBLE_EQ(v.item<double>(), 4.0);
  EXPECT_EQ(i.item<int64_t>(), 0);
  EXPECT_EQ(v.dim(), 0);
}

TEST(ReduceArgmax, IntegerAndBool) {
  EXPECT_EQ(argmax(tensor<int64_t>({1, 9, 9})).item<int64_t>(), 1);
  EXPECT_EQ(argmax(tensor<bool>({false, true})).item<int64_t>(), 1);
  EXPECT_EQ(argmin(tensor<uint8_t>({5, 3, 3})).item<int64_t>(), 1);
}

// ---------------------------------------------------------------- var / std

TEST(ReduceVar, KnownValues) {
  Tensor x = tensor<float>({1, 2, 3, 4});
  EXPECT_NEAR(var(x).item<double>(), 5.0 / 3.0, 1e-6);
  EXPECT_NEAR(var(x, {}, 0).item<double>(), 1.25, 1e-6);
  EXPECT_NEAR(std(x).item<double>(), std::sqrt(5.0 / 3.0), 1e-6);
  EXPECT_NEAR(std(x, {}, 0).item<double>(), std::sqrt(1.25), 1e-6);
}

// The two-pass sum overflows for data near the float limits; the running mean of
// Welford's update (PyTorch's) does not: constant huge data has variance 0, not inf.
TEST(ReduceVar, DataNearTheFloatLimits) {
  for (DType dt : {kFloat32, kFloat64}) {
    const double big = dt == kFloat32 ? 1.7e38 : 8.9e307;
    const Tensor x = full({2, 70}, big, dt);
    for (int64_t correction : {0, 1}) {
      expect_near_vec(dv(var(x, {1}, correction)), {0, 0}, 0, 0);
      expect_near_vec(dv(std(x, {1}, correction)), {0, 0}, 0, 0);
      expect_near_vec(dv(var(x.t().contiguous().t(), {1}, correction)), {0, 0}, 0, 0);
    }
    // Special values still give NaN.
    EXPECT_TRUE(std::isnan(var(tensor<float>({1, kInff, 2}).to(dt)).item<double>()));
  }
}

TEST(ReduceVar, AlongDims) {
  expect_near_vec(dv(var(mat23(), {1})), {1, 1}, 1e-6);
  expect_near_vec(dv(var(mat23(), {0})), {4.5, 4.5, 4.5}, 1e-6);
  Tensor k = std(mat23(), {0}, 1, true);
  EXPECT_EQ(shp(k), (Shape{1, 3}));
  expect_near_vec(dv(k), {std::sqrt(4.5), std::sqrt(4.5), std::sqrt(4.5)}, 1e-6);
}

TEST(ReduceVar, MultipleDimsAndTransposed) {
  Tensor x = cube();
  // Over dims {0, 2} for j: values {j*4 + k, 12 + j*4 + k}, k = 0..3.
  std::vector<double> want;
  for (int j = 0; j < 3; ++j) {
    double s = 0, s2 = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) s += i * 12 + j * 4 + k;
    const double m = s / 8;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) s2 += (i * 12 + j * 4 + k - m) * (i * 12 + j * 4 + k - m);
    want.push_back(s2 / 7);
  }
  expect_near_vec(dv(var(x, {0, 2})), want, 1e-6);
  expect_near_vec(dv(var(x.permute({2, 1, 0}), {0, 2})), want, 1e-6);
}

TEST(ReduceVar, LargeOffsetIsAccurate) {
  // A naive E[x^2] - E[x]^2 in float32 loses everything here.
  std::vector<float> v = random_floats(20000, 6, 1e4f, 1e4f + 1.f);
  double m = 0, m2 = 0;
  for (float f : v) m += f;
  m /= static_cast<double>(v.size());
  for (float f : v) m2 += (f - m) * (f - m);
  const double want = m2 / static_cast<double>(v.size() - 1);
  EXPECT_NEAR(var(tensor<float>(v)).item<double>(), want, 1e-4 * want);
}

TEST(ReduceVar, ColumnsMatchReference) {
  const int64_t rows = 2000, cols = 24;
  std::vector<float> v = random_floats(static_cast<size_t>(rows * cols), 7);
  std::vector<double> want;
  for (int64_t c = 0; c < cols; ++c) {
    double m = 0, m2 = 0;
    for (int64_t r = 0; r < rows; ++r) m += v[static_cast<size_t>(r * cols + c)];
    m /= rows;
    for (int64_t r = 0; r < rows; ++r) {
      const double d = v[static_cast<size_t>(r * cols + c)] - m;
      m2 += d * d;
    }
    want.push_back(m2 / rows);
  }
  expect_near_vec(dv(var(tensor<float>(v, {rows, cols}), {0}, 0)), want, 1e-5);
}

TEST(ReduceVar, DegenerateCorrections) {
  EXPECT_TRUE(std::isnan(var(tensor<float>({3})).item<double>()));  // 0 / 0
  EXPECT_EQ(var(tensor<float>({1, 2}), {}, 2).item<double>(), kInf);
  EXPECT_TRUE(std::isnan(var(zeros({0})).item<double>()));
  EXPECT_DOUBLE_EQ(var(tensor<float>({3}), {}, 0).item<double>(), 0.0);
}

TEST(ReduceVar, Errors) {
  EXPECT_ERROR_HAS(var(tensor<int64_t>({1, 2})), "floating point");
  EXPECT_ERROR_HAS(std(tensor<int32_t>({1, 2})), "std: ");
  EXPECT_ERROR_HAS(var(mat23(), {}, -1), "correction must be >= 0");
  EXPECT_ERROR_HAS(std(mat23(), {5}), "out of range");
}

TEST(ReduceVar, Float64AndHalf) {
  EXPECT_NEAR(var(tensor<double>({1e8, 1e8 + 1, 1e8 + 2})).item<double>(), 1.0, 1e-9);
  Tensor h = var(tensor<float>({1, 2, 3, 4}).to(kFloat16));
  EXPECT_EQ(h.dtype(), kFloat16);
  EXPECT_NEAR(h.item<double>(), 5.0 / 3.0, 2e-3);
}

// ---------------------------------------------------------------- norm

TEST(ReduceNorm, TwoNorm) {
  EXPECT_DOUBLE_EQ(norm(tensor<float>({3, 4})).item<double>(), 5.0);
  EXPECT_DOUBLE_EQ(norm(tensor<float>({3, -4}), 2).item<double>(), 5.0);
}

TEST(ReduceNorm, OneNorm) { EXPECT_DOUBLE_EQ(norm(tensor<float>({3, -4, 1}), 1).item<double>(), 8.0); }

TEST(ReduceNorm, InfinityNorms) {
  Tensor x = tensor<float>({3, -7, 1});
  EXPECT_DOUBLE_EQ(norm(x, kInf).item<double>(), 7.0);
  EXPECT_DOUBLE_EQ(norm(x, -kInf).item<double>(), 1.0);
}

TEST(ReduceNorm, ZeroNormCountsNonZeros) {
  EXPECT_DOUBLE_EQ(norm(tensor<float>({0, 2, 0, -1, 5}), 0).item<double>(), 3.0);
}

TEST(ReduceNorm, GeneralP) {
  Tensor x = tensor<float>({1, -2, 3});
  EXPECT_NEAR(norm(x, 3).item<double>(), std::cbrt(36.0), 1e-5);
  EXPECT_NEAR(norm(x, 0.5).item<double>(), std::pow(1 + std::sqrt(2.0) + std::sqrt(3.0), 2.0), 1e-4);
}

TEST(ReduceNorm, AlongDims) {
  Tensor x = tensor<float>({3, 4, 6, 8}, {2, 2});
  EXPECT_EQ(dv(norm(x, 2, {1})), (std::vector<double>{5, 10}));
  Tensor k = norm(x, 1, {0}, true);
  EXPECT_EQ(shp(k), (Shape{1, 2}));
  EXPECT_EQ(dv(k), (std::vector<double>{9, 12}));
  EXPECT_EQ(dv(norm(x.t(), kInf, {1})), (std::vector<double>{6, 8}));
}

TEST(ReduceNorm, EmptyInputs) {
  EXPECT_DOUBLE_EQ(norm(zeros({0})).item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(norm(zeros({0}), 1).item<double>(), 0.0);
  EXPECT_ERROR_HAS(norm(zeros({0}), kInf), "size 0");
}

TEST(ReduceNorm, Errors) {
  EXPECT_ERROR_HAS(norm(tensor<int64_t>({3, 4})), "floating point");
  EXPECT_ERROR_HAS(norm(mat23(), 2, {0, 0}), "more than once");
}

TEST(ReduceNorm, OpsCarryOnnxNames) {
  EXPECT_STREQ(ops::find_op("norm_l2")->onnx_op, "ReduceL2");
  EXPECT_STREQ(ops::find_op("norm_l1")->onnx_op, "ReduceL1");
  EXPECT_EQ(ops::find_op("norm")->onnx_op, nullptr);
}

TEST(ReduceNorm, LargeTwoNormIsAccurate) {
  std::vector<float> v = random_floats(300000, 8);
  double s = 0;
  for (float f : v) s += static_cast<double>(f) * f;
  EXPECT_NEAR(norm(tensor<float>(v)).item<double>(), std::sqrt(s), 1e-6 * std::sqrt(s));
}

// ---------------------------------------------------------------- logsumexp

TEST(ReduceLogSumExp, KnownValues) {
  Tensor x = tensor<float>({0, 1, 2, 3}, {2, 2});
  expect_near_vec(dv(logsumexp(x, {1})),
                  {std::log(1 + std::exp(1.0)), std::log(std::exp(2.0) + std::exp(3.0))}, 1e-6);
  EXPECT_NEAR(logsumexp(x, {}).item<double>(), std::log(1 + std::exp(1.0) + std::exp(2.0) + std::exp(3.0)),
              1e-6);
}

TEST(ReduceLogSumExp, LargeValuesAreStable) {
  Tensor x = tensor<float>({1000, 1000});
  EXPECT_NEAR(logsumexp(x, {0}).item<double>(), 1000 + std::log(2.0), 1e-3);
  Tensor y = tensor<float>({-1000, -1000});
  EXPECT_NEAR(logsumexp(y, {0}).item<double>(), -1000 + std::log(2.0), 1e-3);
}

TEST(ReduceLogSumExp, Infinities) {
  EXPECT_EQ(logsumexp(tensor<float>({-kInff, -kInff}), {0}).item<double>(), -kInf);
  EXPECT_EQ(logsumexp(tensor<float>({kInff, 1}), {0}).item<double>(), kInf);
  EXPECT_EQ(logsumexp(tensor<float>({kInff, -kInff}), {0}).item<double>(), kInf);
  EXPECT_NEAR(logsumexp(tensor<float>({-kInff, 0}), {0}).item<double>(), 0.0, 1e-7);
  EXPECT_TRUE(std::isnan(logsumexp(tensor<float>({kNaNf, 1}), {0}).item<double>()));
}

TEST(ReduceLogSumExp, EmptyIsNegativeInfinity) {
  EXPECT_EQ(logsumexp(zeros({0}), {0}).item<double>(), -kInf);
}

TEST(ReduceLogSumExp, IntegersPromoteToFloat) {
  Tensor r = logsumexp(tensor<int64_t>({0, 0}), {0});
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_NEAR(r.item<double>(), std::log(2.0), 1e-6);
}

TEST(ReduceLogSumExp, ColumnsKeepdim) {
  Tensor x = tensor<float>({0, 10, 0, 10}, {2, 2});
  Tensor r = logsumexp(x, {0}, true);
  EXPECT_EQ(shp(r), (Shape{1, 2}));
  expect_near_vec(dv(r), {std::log(2.0), 10 + std::log(2.0)}, 1e-6);
  expect_near_vec(dv(logsumexp(x.t(), {1})), {std::log(2.0), 10 + std::log(2.0)}, 1e-6);
}

// ---------------------------------------------------------------- all / any

TEST(ReduceAllAny, KnownValues) {
  Tensor x = tensor<bool>({true, false, true, true}, {2, 2});
  EXPECT_EQ(all(x).dtype(), kBool);
  EXPECT_FALSE(all(x).item<bool>());
  EXPECT_TRUE(any(x).item<bool>());
  EXPECT_EQ(iv(all(x, {1})), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(iv(any(x, {0})), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(iv(all(x, {0}, true)), (std::vector<int64_t>{1, 0}));
}

TEST(ReduceAllAny, Empty) {
  EXPECT_TRUE(all(zeros({0})).item<bool>());
  EXPECT_FALSE(any(zeros({0})).item<bool>());
}

TEST(ReduceAllAny, NumericInputs) {
  EXPECT_TRUE(all(tensor<float>({1.5f, -2.f, kNaNf})).item<bool>());  // NaN is truthy
  EXPECT_FALSE(all(tensor<int64_t>({3, 0})).item<bool>());
  EXPECT_FALSE(any(tensor<float>({0.f, -0.f})).item<bool>());
  EXPECT_TRUE(any(tensor<uint8_t>({0, 0, 4})).item<bool>());
}

TEST(ReduceAllAny, TransposedAndLong) {
  Tensor x = tensor<bool>({true, true, false, true}, {2, 2}).t();  // [[1, 0], [1, 1]]
  EXPECT_EQ(iv(all(x, {1})), (std::vector<int64_t>{0, 1}));
  std::vector<int64_t> ints(70000, 1);
  ints[69999] = 0;
  EXPECT_FALSE(all(tensor<int64_t>(ints)).item<bool>());
  EXPECT_TRUE(any(tensor<int64_t>(ints)).item<bool>());
}

// ---------------------------------------------------------------- cumsum

TEST(ReduceCumsum, KnownValues) {
  EXPECT_EQ(dv(cumsum(mat23(), 1)), (std::vector<double>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(dv(cumsum(mat23(), 0)), (std::vector<double>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(dv(cumsum(mat23(), -1)), dv(cumsum(mat23(), 1)));
  EXPECT_EQ(shp(cumsum(mat23(), 0)), (Shape{2, 3}));
}

TEST(ReduceCumsum, IntegersGiveInt64) {
  Tensor c = cumsum(tensor<int32_t>({2000000000, 2000000000}), 0);
  EXPECT_EQ(c.dtype(), kInt64);
  EXPECT_EQ(iv(c), (std::vector<int64_t>{2000000000, 4000000000LL}));
  Tensor b = cumsum(tensor<bool>({true, false, true}), 0);
  EXPECT_EQ(b.dtype(), kInt64);
  EXPECT_EQ(iv(b), (std::vector<int64_t>{1, 1, 2}));
}

TEST(ReduceCumsum, NonContiguousAndMiddleDim) {
  EXPECT_EQ(dv(cumsum(mat23().t(), 0)), (std::vector<double>{1, 4, 3, 9, 6, 15}));
  Tensor c = cumsum(cube(), 1);
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        double s = 0;
        for (int jj = 0; jj <= j; ++jj) s += i * 12 + jj * 4 + k;
        want.push_back(s);
      }
  EXPECT_EQ(dv(c), want);
}

TEST(ReduceCumsum, LongFloatIsAccurate) {
  std::vector<float> v = random_floats(100000, 9, 0.f, 1.f);
  const auto got = dv(cumsum(tensor<float>(v), 0));
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    s += v[i];
    if (i % 9973 == 0 || i + 1 == v.size()) {
      EXPECT_NEAR(got[i], s, 1e-6 * s + 1e-6);
    }
  }
}

TEST(ReduceCumsum, EmptyAndZeroDim) {
  EXPECT_EQ(shp(cumsum(zeros({0, 3}), 0)), (Shape{0, 3}));
  EXPECT_EQ(shp(cumsum(zeros({3, 0}), 0)), (Shape{3, 0}));
  EXPECT_DOUBLE_EQ(cumsum(scalar_tensor(4.0), 0).item<double>(), 4.0);
}

TEST(ReduceCumsum, Errors) {
  EXPECT_ERROR_HAS(cumsum(mat23(), 2), "dim 2 is out of range");
  EXPECT_ERROR_HAS(cumsum(mat23(), -3), "cumsum: ");
}

// ---------------------------------------------------------------- softmax / log_softmax

TEST(ReduceSoftmax, KnownValues) {
  Tensor x = tensor<float>({1, 2, 3});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  expect_near_vec(dv(softmax(x, 0)), {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z}, 1e-6);
  expect_near_vec(dv(log_softmax(x, 0)), {1 - std::log(z), 2 - std::log(z), 3 - std::log(z)}, 1e-6);
}

TEST(ReduceSoftmax, RowsSumToOne) {
  std::vector<float> v = random_floats(40 * 33, 10, -5, 5);
  Tensor s = softmax(tensor<float>(v, {40, 33}), -1);
  expect_near_vec(dv(sum(s, {1})), std::vector<double>(40, 1.0), 1e-5);
  Tensor c = softmax(tensor<float>(v, {40, 33}), 0);
  expect_near_vec(dv(sum(c, {0})), std::vector<double>(33, 1.0), 1e-5);
}

TEST(ReduceSoftmax, LargeInputsAreStable) {
  expect_near_vec(dv(softmax(tensor<float>({1000, 1000}), 0)), {0.5, 0.5}, 1e-6);
  expect_near_vec(dv(softmax(tensor<float>({-1000, -1000}), 0)), {0.5, 0.5}, 1e-6);
  expect_near_vec(dv(log_softmax(tensor<float>({1000, 1000}), 0)), {-std::log(2.0), -std::log(2.0)}, 1e-5);
  expect_near_vec(dv(log_softmax(tensor<float>({0, -1000}), 0)), {0, -1000}, 1e-5);
}

TEST(ReduceSoftmax, NegativeInfinityGetsZero) {
  Tensor s = softmax(tensor<float>({-kInff, 0, 0}), 0);
  expect_near_vec(dv(s), {0, 0.5, 0.5}, 1e-7);
  EXPECT_EQ(dv(log_softmax(tensor<float>({-kInff, 0}), 0))[0], -kInf);
}

TEST(ReduceSoftmax, ColumnsAndMiddleDim) {
  std::vector<float> v = random_floats(2 * 5 * 70, 11, -3, 3);
  Tensor x = tensor<float>(v, {2, 5, 70});
  const auto got = dv(softmax(x, 1));
  const auto lgot = dv(log_softmax(x, 1));
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 70; ++k) {
      double z = 0;
      for (int j = 0; j < 5; ++j) z += std::exp(static_cast<double>(v[static_cast<size_t>((i * 5 + j) * 70 + k)]));
      for (int j = 0; j < 5; ++j) {
        const size_t at = static_cast<size_t>((i * 5 + j) * 70 + k);
        EXPECT_NEAR(got[at], std::exp(static_cast<double>(v[at])) / z, 1e-6);
        EXPECT_NEAR(lgot[at], v[at] - std::log(z), 1e-5);
      }
    }
}

TEST(ReduceSoftmax, NonContiguousInput) {
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  expect_near_vec(dv(softmax(x.t(), 1)), dv(softmax(x, 0).t().contiguous()), 1e-6);
  expect_near_vec(dv(softmax(x.t(), 1)), {0.119202922, 0.880797078, 0.119202922, 0.880797078}, 1e-6);
}

TEST(ReduceSoftmax, IntegerInputIsAnError) {
  EXPECT_THROW(softmax(tensor<int64_t>({1, 2}), 0), Error);
  EXPECT_ERROR_HAS(log_softmax(tensor<int32_t>({1, 2}), 0), "floating point");
}

TEST(ReduceSoftmax, DimErrors) {
  EXPECT_ERROR_HAS(softmax(mat23(), 2), "out of range");
  EXPECT_ERROR_HAS(log_softmax(mat23(), -3), "log_softmax: ");
}

TEST(ReduceSoftmax, ZeroDimAndEmpty) {
  EXPECT_DOUBLE_EQ(softmax(scalar_tensor(3.0), 0).item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(log_softmax(scalar_tensor(3.0), -1).item<double>(), 0.0);
  EXPECT_EQ(shp(softmax(zeros({0, 4}), 1)), (Shape{0, 4}));
  EXPECT_EQ(shp(softmax(zeros({4, 0}), 1)), (Shape{4, 0}));
}

TEST(ReduceSoftmax, ReducedFloatsAndDouble) {
  Tensor h = softmax(tensor<float>({0, 0}).to(kBFloat16), 0);
  EXPECT_EQ(h.dtype(), kBFloat16);
  EXPECT_EQ(dv(h), (std::vector<double>{0.5, 0.5}));
  Tensor d = log_softmax(tensor<double>({1, 2}), 0);
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_NEAR(dv(d)[0], 1 - std::log(std::exp(1.0) + std::exp(2.0)), 1e-14);
}

// ---------------------------------------------------------------- the op table

TEST(ReduceOps, FlagsAndOnnxNames) {
  const std::pair<const char*, const char*> expected[] = {
      {"sum", "ReduceSum"},      {"mean", "ReduceMean"},       {"prod", "ReduceProd"},
      {"amax", "ReduceMax"},     {"amin", "ReduceMin"},        {"argmax", "ArgMax"},
      {"argmin", "ArgMin"},      {"logsumexp", "ReduceLogSumExp"}, {"cumsum", "CumSum"},
      {"softmax", "Softmax"},    {"log_softmax", "LogSoftmax"}};
  for (const auto& [name, onnx] : expected) {
    const ops::OpDef* op = ops::find_op(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_STREQ(op->onnx_op, onnx) << name;
    EXPECT_TRUE(op->flags & ops::kReduction) << name;
  }
  EXPECT_TRUE(ops::find_op("sum")->flags & ops::kDifferentiable);
  EXPECT_FALSE(ops::find_op("argmax")->flags & ops::kDifferentiable);
  EXPECT_FALSE(ops::find_op("any")->flags & ops::kDifferentiable);
}

}  // namespace
}  // namespace tessera
