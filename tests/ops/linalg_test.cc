// matmul, mm, bmm, addmm, outer, dot: every rank case of NumPy's matmul, views read in
// place, empty dims, dtypes and promotion, and the errors users see. The reference is a
// plain double-precision loop over row-major copies, written independently of the kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/linalg.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "test_util.h"

namespace tessera {
namespace {

struct Ref {
  std::vector<int64_t> shape;
  std::vector<double> values;
};

// NumPy matmul in double: 1-D operands become a row (left) or a column (right) and their
// dim is dropped from the result; batch dims broadcast right-aligned.
Ref ref_matmul(const Tensor& a, const Tensor& b) {
  const std::vector<double> av = a.to_vector<double>();
  const std::vector<double> bv = b.to_vector<double>();
  std::vector<int64_t> as = a.sizes().vec(), bs = b.sizes().vec();
  const bool drop_n = as.size() == 1, drop_m = bs.size() == 1;
  if (drop_n) as.insert(as.begin(), 1);
  if (drop_m) bs.push_back(1);
  const int64_t n = as[as.size() - 2], k = as.back(), m = bs.back();
  EXPECT_EQ(k, bs[bs.size() - 2]);
  const std::vector<int64_t> ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  const size_t nb = std::max(ab.size(), bb.size());
  std::vector<int64_t> batch(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i + ab.size() >= nb ? ab[i + ab.size() - nb] : 1;
    const int64_t db = i + bb.size() >= nb ? bb[i + bb.size() - nb] : 1;
    batch[i] = std::max(da, db);
  }
  int64_t nbatch = 1;
  for (int64_t s : batch) nbatch *= s;
  // Flat batch index of an operand for output batch coordinates `c`.
  auto operand_batch = [&](const std::vector<int64_t>& ob, const std::vector<int64_t>& c) {
    int64_t flat = 0;
    for (size_t d = 0; d < ob.size(); ++d) {
      const int64_t coord = ob[d] == 1 ? 0 : c[d + nb - ob.size()];
      flat = flat * ob[d] + coord;
    }
    return flat;
  };
  Ref r;
  r.shape = batch;
  if (!drop_n) r.shape.push_back(n);
  if (!drop_m) r.shape.push_back(m);
  r.values.assign(static_cast<size_t>(nbatch * n * m), 0.0);
  std::vector<int64_t> c(nb, 0);
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    int64_t rem = bi;
    for (size_t d = nb; d-- > 0;) {
      c[d] = rem % batch[d];
      rem /= batch[d];
    }
    const int64_t fa = operand_batch(ab, c), fb = operand_batch(bb, c);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += av[static_cast<size_t>((fa * n + i) * k + p)] * bv[static_cast<size_t>((fb * k + p) * m + j)];
        r.values[static_cast<size_t>((bi * n + i) * m + j)] = s;
      }
  }
  return r;
}

void expect_matches(const Tensor& out, const Ref& ref, double rtol = 1e-5, double atol = 1e-5) {
  ASSERT_EQ(out.sizes().vec(), ref.shape);
  const std::vector<double> got = out.to_vector<double>();
  ASSERT_EQ(got.size(), ref.values.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], ref.values[i], atol + rtol * std::fabs(ref.values[i])) << "at flat index " << i;
}

void expect_values(const Tensor& out, std::vector<int64_t> shape, std::vector<double> values) {
  expect_matches(out, Ref{std::move(shape), std::move(values)}, 0, 1e-6);
}

Tensor rnd(IntArrayRef shape, DType dt = kFloat32) { return randn(shape).to(dt); }
Tensor rnd_int(IntArrayRef shape, DType dt = kInt64) { return randint(-5, 6, shape).to(dt); }

class Linalg : public ::testing::Test {
 protected:
  void SetUp() override { manual_seed(1234); }
};

// ---------------------------------------------------------------- known values

TEST_F(Linalg, MmKnownValues) {
  Tensor a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = tensor<float>({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor c = mm(a, b);
  EXPECT_EQ(c.dtype(), kFloat32);
  expect_values(c, {2, 2}, {58, 64, 139, 154});
}

TEST_F(Linalg, MatmulVectorVectorIsZeroDimDot) {
  Tensor c = matmul(tensor<float>({1, 2, 3}), tensor<float>({4, 5, 6}));
  EXPECT_EQ(c.dim(), 0);
  EXPECT_FLOAT_EQ(c.item<float>(), 32.0f);
}

TEST_F(Linalg, Matmul1Dx2DDropsTheRow) {
  Tensor c = matmul(tensor<float>({1, 2}), tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  expect_values(c, {3}, {9, 12, 15});
}

TEST_F(Linalg, Matmul2Dx1DDropsTheColumn) {
  Tensor c = matmul(tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}), tensor<float>({1, 0, -1}));
  expect_values(c, {2}, {-2, -2});
}

TEST_F(Linalg, MemberMatmulEqualsFreeFunction) {
  Tensor a = rnd({4, 5}), b = rnd({5, 3});
  EXPECT_EQ(a.matmul(b).to_vector<float>(), matmul(a, b).to_vector<float>());
}

TEST_F(Linalg, IdentityLeavesMatrixUnchanged) {
  Tensor a = rnd({6, 6});
  expect_matches(mm(eye(6), a), Ref{{6, 6}, a.to_vector<double>()}, 0, 0);
}

// ---------------------------------------------------------------- rank cases vs reference

TEST_F(Linalg, Mm2DRandom) {
  Tensor a = rnd({7, 13}), b = rnd({13, 5});
  expect_matches(mm(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, MatmulBatched3Dx3D) {
  Tensor a = rnd({4, 3, 5}), b = rnd({4, 5, 2});
  expect_matches(matmul(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, MatmulBatchBroadcastBothSides) {
  Tensor a = rnd({2, 1, 3, 4}), b = rnd({5, 4, 2});
  Tensor c = matmul(a, b);
  expect_matches(c, ref_matmul(a, b));
  EXPECT_EQ(c.sizes().vec(), (std::vector<int64_t>{2, 5, 3, 2}));
}

TEST_F(Linalg, MatmulBatchBroadcastOnesInBoth) {
  Tensor a = rnd({3, 1, 2, 4}), b = rnd({1, 4, 4, 3});
  expect_matches(matmul(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, Matmul3Dx2DBroadcastsTheMatrix) {
  Tensor a = rnd({3, 4, 5}), b = rnd({5, 6});
  expect_matches(matmul(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, Matmul2Dx3DBroadcastsTheMatrix) {
  Tensor a = rnd({4, 5}), b = rnd({3, 5, 6});
  expect_matches(matmul(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, MatmulNDx1D) {
  Tensor a = rnd({2, 3, 4}), b = rnd({4});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.sizes().vec(), (std::vector<int64_t>{2, 3}));
  expect_matches(c, ref_matmul(a, b));
}

TEST_F(Linalg, Matmul1DxND) {
  Tensor a = rnd({4}), b = rnd({2, 4, 5});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.sizes().vec(), (std::vector<int64_t>{2, 5}));
  expect_matches(c, ref_matmul(a, b));
}

TEST_F(Linalg, Matmul4DBatchedAgainstReference) {
  Tensor a = rnd({2, 3, 5, 7}), b = rnd({2, 3, 7, 4});
  expect_matches(matmul(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, LargerFloat32AgainstReference) {
  Tensor a = rnd({130, 257}), b = rnd({257, 71});
  expect_matches(mm(a, b), ref_matmul(a, b), 1e-4, 1e-3);
}

// ---------------------------------------------------------------- views

TEST_F(Linalg, TransposedLhsNeedsNoCopy) {
  Tensor a = rnd({5, 4}), b = rnd({5, 3});
  const int64_t packed = cpu::linalg_packed_operands();
  Tensor c = mm(a.t(), b);
  EXPECT_EQ(cpu::linalg_packed_operands(), packed);
  expect_matches(c, ref_matmul(a.t(), b));
}

TEST_F(Linalg, TransposedRhsNeedsNoCopy) {
  Tensor a = rnd({4, 5}), w = rnd({3, 5});
  const int64_t packed = cpu::linalg_packed_operands();
  Tensor c = mm(a, w.t());
  EXPECT_EQ(cpu::linalg_packed_operands(), packed);
  expect_matches(c, ref_matmul(a, w.t()));
}

TEST_F(Linalg, BothTransposed) {
  Tensor a = rnd({6, 4}), b = rnd({3, 6});
  const int64_t packed = cpu::linalg_packed_operands();
  Tensor c = mm(a.t(), b.t());
  EXPECT_EQ(cpu::linalg_packed_operands(), packed);
  expect_matches(c, ref_matmul(a.t(), b.t()));
}

TEST_F(Linalg, ColumnSliceIsReadWithLeadingDimension) {
  Tensor big = rnd({6, 10});
  Tensor a = big.slice(1, 2, 7);  // [6, 5], row stride 10
  Tensor b = rnd({5, 4});
  ASSERT_FALSE(a.is_contiguous());
  const int64_t packed = cpu::linalg_packed_operands();
  Tensor c = mm(a, b);
  EXPECT_EQ(cpu::linalg_packed_operands(), packed);
  expect_matches(c, ref_matmul(a, b));
}

TEST_F(Linalg, RowOffsetView) {
  Tensor big = rnd({9, 4});
  Tensor a = big.narrow(0, 3, 5);
  Tensor b = rnd({4, 2});
  expect_matches(mm(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, SteppedSliceIsPackedAndCorrect) {
  Tensor big = rnd({5, 12});
  Tensor a = big.slice(1, 0, 12, 2);  // column stride 2: no BLAS layout fits
  Tensor b = rnd({6, 3});
  const int64_t packed = cpu::linalg_packed_operands();
  Tensor c = mm(a, b);
  EXPECT_EQ(cpu::linalg_packed_operands(), packed + 1);
  expect_matches(c, ref_matmul(a, b));
}

// Leading dimensions of 512 floats make oneDNN's packing thrash the cache; such operands
// are copied into longer rows (sgemm_operand in linalg.cc), and only where k runs across
// their rows and the product is not too thin or too tall to repay it.
TEST_F(Linalg, AliasingLeadingDimensionsAreCopiedIntoLongerRows) {
  Tensor x = rnd({128, 512}), w = rnd({512, 512});
  int64_t before = cpu::linalg_restrided_operands();
  expect_matches(mm(x, w), ref_matmul(x, w), 1e-4, 1e-3);  // the right operand only
  EXPECT_EQ(cpu::linalg_restrided_operands(), before + 1);

  Tensor dy = rnd({128, 512});
  before = cpu::linalg_restrided_operands();
  expect_matches(mm(dy.t(), x), ref_matmul(dy.t(), x), 1e-4, 1e-3);  // both: k = 128 along rows
  EXPECT_EQ(cpu::linalg_restrided_operands(), before + 2);

  Tensor wide = rnd({512, 1024});
  Tensor slice = wide.slice(1, 3, 503);  // [512, 500], rows 1024 floats apart
  before = cpu::linalg_restrided_operands();
  expect_matches(mm(x, slice), ref_matmul(x, slice), 1e-4, 1e-3);
  EXPECT_EQ(cpu::linalg_restrided_operands(), before + 1);

  before = cpu::linalg_restrided_operands();
  expect_matches(mm(x, w.t()), ref_matmul(x, w.t()), 1e-4, 1e-3);  // k along rows of both
  Tensor thin = rnd({8, 512});
  expect_matches(mm(thin, w), ref_matmul(thin, w), 1e-4, 1e-3);  // 8 rows: too thin
  Tensor tall = rnd({1024, 512});
  expect_matches(mm(tall, w), ref_matmul(tall, w), 1e-4, 1e-3);  // panels serve 1024 rows
  Tensor odd = rnd({512, 520});
  expect_matches(mm(x, odd), ref_matmul(x, odd), 1e-4, 1e-3);
  EXPECT_EQ(cpu::linalg_restrided_operands(), before);
}

TEST_F(Linalg, ExpandedStrideZeroRowsAreCorrect) {
  Tensor row = rnd({1, 4});
  Tensor a = row.expand({3, 4});
  Tensor b = rnd({4, 5});
  expect_matches(mm(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, StridedVectorOperands) {
  Tensor m = rnd({4, 6});
  Tensor col = rnd({6, 3}).select(1, 1);  // stride 3
  Tensor row = rnd({4, 2}).select(1, 0);  // stride 2
  expect_matches(matmul(m, col), ref_matmul(m, col));
  expect_matches(matmul(row, m), ref_matmul(row, m));
}

TEST_F(Linalg, BatchedTransposeOfLastTwoDims) {
  Tensor q = rnd({3, 8, 4}), k = rnd({3, 8, 4});
  Tensor kt = k.transpose(-1, -2);
  const int64_t packed = cpu::linalg_packed_operands();
  Tensor s = matmul(q, kt);
  EXPECT_EQ(cpu::linalg_packed_operands(), packed);
  expect_matches(s, ref_matmul(q, kt));
}

TEST_F(Linalg, PermutedBatchDims) {
  Tensor x = rnd({4, 2, 3});             // [n, batch, k]
  Tensor a = x.permute({1, 0, 2});       // [batch, n, k], batch stride 3
  Tensor b = rnd({2, 3, 5});
  expect_matches(bmm(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, ExpandedBatchDim) {
  Tensor a = rnd({1, 3, 4}).expand({5, 3, 4});
  Tensor b = rnd({5, 4, 2});
  expect_matches(bmm(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, ResultIsFreshAndContiguous) {
  Tensor a = rnd({3, 4}), b = rnd({4, 3});
  Tensor c = mm(a.t().t(), b);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(a));
  EXPECT_FALSE(c.shares_storage(b));
}

// ---------------------------------------------------------------- empty dims

TEST_F(Linalg, ZeroInnerDimGivesZerosFloat32) {
  Tensor c = mm(empty({3, 0}), empty({0, 4}));
  expect_values(c, {3, 4}, std::vector<double>(12, 0.0));
}

TEST_F(Linalg, ZeroInnerDimGivesZerosFloat64AndInt64) {
  expect_values(mm(empty({2, 0}, kFloat64), empty({0, 2}, kFloat64)), {2, 2}, {0, 0, 0, 0});
  expect_values(mm(empty({2, 0}, kInt64), empty({0, 3}, kInt64)), {2, 3}, std::vector<double>(6, 0.0));
}

TEST_F(Linalg, ZeroLengthDotIsZero) {
  Tensor c = dot(empty({0}), empty({0}));
  EXPECT_EQ(c.dim(), 0);
  EXPECT_EQ(c.item<float>(), 0.0f);
}

TEST_F(Linalg, ZeroRowsOrColsGiveEmptyResults) {
  EXPECT_EQ(mm(empty({0, 3}), empty({3, 4})).sizes().vec(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(mm(empty({2, 3}), empty({3, 0})).sizes().vec(), (std::vector<int64_t>{2, 0}));
}

TEST_F(Linalg, ZeroBatch) {
  Tensor c = matmul(empty({0, 2, 3}), empty({3, 4}));
  EXPECT_EQ(c.sizes().vec(), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(c.numel(), 0);
}

TEST_F(Linalg, ZeroInnerDimInAddmmKeepsBetaTimesInput) {
  Tensor input = full({2, 2}, 3.0);
  expect_values(addmm(input, empty({2, 0}), empty({0, 2}), 2.0), {2, 2}, {6, 6, 6, 6});
}

TEST_F(Linalg, RecycledMemoryWithNaNDoesNotLeakIntoResult) {
  // The caching allocator hands back the block a NaN-filled tensor just released, so
  // a kernel that read its uninitialised output would produce NaN.
  for (DType dt : {kFloat32, kFloat64}) {
    { Tensor junk = full({16, 16}, std::numeric_limits<double>::quiet_NaN(), dt); }
    Tensor a = rnd({16, 8}, dt), b = rnd({8, 16}, dt);
    expect_matches(mm(a, b), ref_matmul(a, b));
  }
}

// ---------------------------------------------------------------- dtypes

TEST_F(Linalg, Float64AcrossAllBlockBoundaries) {
  // Beyond one MC (64) rows, KC (256) depth and NC (512) columns of the blocked kernel,
  // with ragged edges in each.
  Tensor a = rnd({67, 300}, kFloat64), b = rnd({300, 517}, kFloat64);
  Tensor c = mm(a, b);
  EXPECT_EQ(c.dtype(), kFloat64);
  expect_matches(c, ref_matmul(a, b), 1e-12, 1e-12);
}

TEST_F(Linalg, Float64TransposedAndBatched) {
  Tensor a = rnd({3, 6, 5}, kFloat64).transpose(1, 2), b = rnd({6, 4}, kFloat64);
  expect_matches(matmul(a, b), ref_matmul(a, b), 1e-12, 1e-12);
}

TEST_F(Linalg, Float64IsExactForSmallIntegers) {
  Tensor a = tensor<double>({1, 2, 3, 4}, {2, 2}), b = tensor<double>({5, 6, 7, 8}, {2, 2});
  expect_values(mm(a, b), {2, 2}, {19, 22, 43, 50});
}

TEST_F(Linalg, Int64KnownValues) {
  Tensor a = tensor<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = tensor<int64_t>({1, -1, 2, 0, 0, 3}, {3, 2});
  Tensor c = mm(a, b);
  EXPECT_EQ(c.dtype(), kInt64);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{5, 8, 14, 14}));
}

TEST_F(Linalg, Int64BatchedTransposedAgainstReference) {
  Tensor a = rnd_int({2, 5, 4}).transpose(1, 2), b = rnd_int({5, 3});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), kInt64);
  expect_matches(c, ref_matmul(a, b), 0, 0);
}

TEST_F(Linalg, Int64LargeValuesAreExact) {
  // Beyond float's 24-bit mantissa: a float accumulator would round these.
  const int64_t big = (int64_t{1} << 40) + 1;
  Tensor a = tensor<int64_t>({big, 1}, {1, 2});
  Tensor b = tensor<int64_t>({3, 5}, {2, 1});
  EXPECT_EQ(mm(a, b).item<int64_t>(), 3 * big + 5);
}

TEST_F(Linalg, Int32AndUInt8KeepTheirDtype) {
  Tensor a32 = rnd_int({3, 4}, kInt32), b32 = rnd_int({4, 2}, kInt32);
  Tensor c32 = mm(a32, b32);
  EXPECT_EQ(c32.dtype(), kInt32);
  expect_matches(c32, ref_matmul(a32, b32), 0, 0);
  Tensor a8 = tensor<uint8_t>({1, 2, 3, 4}, {2, 2});
  Tensor c8 = mm(a8, a8);
  EXPECT_EQ(c8.dtype(), kUInt8);
  EXPECT_EQ(c8.to_vector<int64_t>(), (std::vector<int64_t>{7, 10, 15, 22}));
}

TEST_F(Linalg, Int8WrapsLikeTheCType) {
  Tensor a = tensor<int8_t>({100}, {1, 1}), b = tensor<int8_t>({2}, {1, 1});
  EXPECT_EQ(mm(a, b).item<int64_t>(), -56);  // 200 mod 256, as int8
}

TEST_F(Linalg, MixedFloat32Float64PromotesToFloat64) {
  Tensor a = rnd({3, 4}), b = rnd({4, 2}, kFloat64);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), kFloat64);
  expect_matches(c, ref_matmul(a, b), 1e-12, 1e-12);
}

TEST_F(Linalg, MixedInt64Float32PromotesToFloat32) {
  Tensor a = rnd_int({3, 4}), b = rnd({4, 2});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), kFloat32);
  expect_matches(c, ref_matmul(a, b));
}

TEST_F(Linalg, ReducedFloatsRunInFloat32AndKeepTheirDtype) {
  for (DType dt : {kBFloat16, kFloat16}) {
    Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2}).to(dt);
    Tensor b = tensor<float>({0.5f, 1, -1, 2}, {2, 2}).to(dt);
    Tensor c = mm(a, b);
    EXPECT_EQ(c.dtype(), dt);
    expect_values(c, {2, 2}, {-1.5, 5, -2.5, 11});
  }
}

TEST_F(Linalg, BoolIsRejectedNamingSupportedDtypes) {
  Tensor a = ones({2, 2}, kBool);
  EXPECT_THROW(mm(a, a), Error);
  EXPECT_ERROR_HAS(mm(a, a), "bool");
}

// ---------------------------------------------------------------- threads

TEST_F(Linalg, SmallBatchesAreSplitOverThreadsCorrectly) {
  const int saved = get_num_threads();
  set_num_threads(2);
  Tensor a = rnd({9, 5, 6}), b = rnd({9, 6, 7});
  Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  Tensor ai = rnd_int({9, 5, 6}), bi = rnd_int({9, 6, 7});
  Tensor c = matmul(a, b), c64 = matmul(a64, b64), ci = matmul(ai, bi);
  set_num_threads(saved);
  expect_matches(c, ref_matmul(a, b));
  expect_matches(c64, ref_matmul(a64, b64), 1e-12, 1e-12);
  expect_matches(ci, ref_matmul(ai, bi), 0, 0);
}

TEST_F(Linalg, Float64RowSplitOverThreadsMatchesOneThreadExactly) {
  // Large enough that the float64 kernel splits rows over two threads; each row is
  // computed in the same order either way, so the results are bitwise equal.
  const int saved = get_num_threads();
  Tensor a = rnd({300, 150}, kFloat64), b = rnd({150, 200}, kFloat64);
  set_num_threads(1);
  Tensor c1 = mm(a, b);
  set_num_threads(2);
  Tensor c2 = mm(a, b);
  set_num_threads(saved);
  EXPECT_EQ(c1.to_vector<double>(), c2.to_vector<double>());
  expect_matches(c2, ref_matmul(a, b), 1e-12, 1e-12);
}

// ---------------------------------------------------------------- dot, outer, bmm, addmm

TEST_F(Linalg, DotKnownValuesAndDtypes) {
  EXPECT_FLOAT_EQ(dot(tensor<float>({1, 2, 3}), tensor<float>({4, -5, 6})).item<float>(), 12.0f);
  EXPECT_EQ(dot(tensor<int64_t>({1, 2, 3}), tensor<int64_t>({4, -5, 6})).item<int64_t>(), 12);
  Tensor d = dot(tensor<double>({0.5, 0.25}), tensor<float>({2, 4}));
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_DOUBLE_EQ(d.item<double>(), 2.0);
}

TEST_F(Linalg, DotOfStridedViews) {
  Tensor m = rnd({5, 5});
  Tensor diag = m.diagonal();
  Tensor col = m.select(1, 2);
  double want = 0;
  const auto dv = diag.to_vector<double>(), cv = col.to_vector<double>();
  for (size_t i = 0; i < dv.size(); ++i) want += dv[i] * cv[i];
  EXPECT_NEAR(dot(diag, col).item<double>(), want, 1e-5);
}

TEST_F(Linalg, OuterKnownValues) {
  Tensor c = outer(tensor<float>({1, 2, 3}), tensor<float>({1, 10}));
  expect_values(c, {3, 2}, {1, 10, 2, 20, 3, 30});
  Tensor ci = outer(tensor<int64_t>({2, -1}), tensor<int64_t>({3}));
  EXPECT_EQ(ci.dtype(), kInt64);
  EXPECT_EQ(ci.to_vector<int64_t>(), (std::vector<int64_t>{6, -3}));
}

TEST_F(Linalg, OuterOfStridedViewsMatchesMatmulOfColumnAndRow) {
  Tensor a = rnd({4, 3}).select(1, 1), b = rnd({2, 5}).select(0, 1);
  Tensor c = outer(a, b);
  expect_matches(c, ref_matmul(a.unsqueeze(1), b.unsqueeze(0)));
}

TEST_F(Linalg, BmmAgainstReference) {
  Tensor a = rnd({3, 4, 6}), b = rnd({3, 6, 2});
  expect_matches(bmm(a, b), ref_matmul(a, b));
}

TEST_F(Linalg, AddmmDefaultIsInputPlusProduct) {
  Tensor input = rnd({3, 2}), a = rnd({3, 4}), b = rnd({4, 2});
  Ref r = ref_matmul(a, b);
  const auto in = input.to_vector<double>();
  for (size_t i = 0; i < r.values.size(); ++i) r.values[i] += in[i];
  expect_matches(addmm(input, a, b), r);
}

TEST_F(Linalg, AddmmBroadcastsBiasRowLikeLinear) {
  // The Linear layer pattern: x @ w.t() + bias, with w stored [out, in].
  Tensor x = rnd({5, 4}), w = rnd({3, 4}), bias = rnd({3});
  Ref r = ref_matmul(x, w.t());
  const auto bv = bias.to_vector<double>();
  for (size_t i = 0; i < r.values.size(); ++i) r.values[i] += bv[i % 3];
  expect_matches(addmm(bias, x, w.t()), r);
}

TEST_F(Linalg, AddmmBroadcastsColumnAndScalarInputs) {
  Tensor a = rnd({2, 3}), b = rnd({3, 4});
  Ref r = ref_matmul(a, b);
  Ref col = r, scalar = r;
  for (size_t i = 0; i < r.values.size(); ++i) {
    col.values[i] += (i < 4 ? 1.0 : 2.0);
    scalar.values[i] += 7.0;
  }
  expect_matches(addmm(tensor<float>({1, 2}, {2, 1}), a, b), col);
  expect_matches(addmm(scalar_tensor(7.0), a, b), scalar);
}

TEST_F(Linalg, AddmmAlphaBeta) {
  Tensor input = rnd({2, 2}), a = rnd({2, 3}), b = rnd({3, 2});
  Ref r = ref_matmul(a, b);
  const auto in = input.to_vector<double>();
  for (size_t i = 0; i < r.values.size(); ++i) r.values[i] = 0.5 * in[i] + -2.0 * r.values[i];
  expect_matches(addmm(input, a, b, 0.5, -2.0), r);
}

TEST_F(Linalg, AddmmBetaZeroIgnoresNaNInput) {
  Tensor input = full({2, 2}, std::numeric_limits<double>::quiet_NaN());
  Tensor a = rnd({2, 3}), b = rnd({3, 2});
  expect_matches(addmm(input, a, b, 0), ref_matmul(a, b));
}

TEST_F(Linalg, AddmmFloat64AndInt64) {
  Tensor in64 = rnd({2, 3}, kFloat64), a64 = rnd({2, 4}, kFloat64), b64 = rnd({4, 3}, kFloat64);
  Ref r = ref_matmul(a64, b64);
  const auto iv = in64.to_vector<double>();
  for (size_t i = 0; i < r.values.size(); ++i) r.values[i] = 2 * iv[i] + 3 * r.values[i];
  expect_matches(addmm(in64, a64, b64, 2, 3), r, 1e-12, 1e-12);

  Tensor ci = addmm(tensor<int64_t>({10}), tensor<int64_t>({1, 2}, {1, 2}),
                    tensor<int64_t>({3, 4}, {2, 1}), 2, 3);
  EXPECT_EQ(ci.dtype(), kInt64);
  EXPECT_EQ(ci.item<int64_t>(), 2 * 10 + 3 * 11);
}

// ---------------------------------------------------------------- errors

TEST_F(Linalg, InnerDimensionMismatchNamesOpShapesAndSizes) {
  Tensor a = rnd({2, 3}), b = rnd({4, 5});
  EXPECT_THROW(matmul(a, b), Error);
  const std::string msg = error_of([&] { matmul(a, b); });
  EXPECT_EQ(msg.rfind("matmul:", 0), 0u) << msg;
  EXPECT_NE(msg.find("[2, 3] f32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 5] f32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("inner dimensions differ (3 vs 4)"), std::string::npos) << msg;
}

TEST_F(Linalg, ZeroDimOperandIsRejected) {
  EXPECT_ERROR_HAS(matmul(scalar_tensor(2.0), rnd({2})), "at least 1 dimension, got 0-D and 1-D");
}

TEST_F(Linalg, UnbroadcastableBatchDims) {
  EXPECT_ERROR_HAS(matmul(rnd({2, 3, 4}), rnd({3, 4, 5})), "batch dimensions [2] and [3]");
}

TEST_F(Linalg, VectorInnerMismatch) {
  EXPECT_ERROR_HAS(matmul(rnd({3}), rnd({4})), "inner dimensions differ (3 vs 4)");
  EXPECT_ERROR_HAS(matmul(rnd({2, 3}), rnd({4})), "inner dimensions differ (3 vs 4)");
}

TEST_F(Linalg, MmRejectsNon2D) {
  EXPECT_ERROR_HAS(mm(rnd({3}), rnd({3, 2})), "mm: ");
  EXPECT_ERROR_HAS(mm(rnd({2, 3, 4}), rnd({4, 2})), "expected 2-D matrices, got 3-D and 2-D");
}

TEST_F(Linalg, BmmRejectsWrongRankAndBatchMismatch) {
  EXPECT_ERROR_HAS(bmm(rnd({3, 4}), rnd({4, 2})), "expected 3-D batches of matrices, got 2-D and 2-D");
  EXPECT_ERROR_HAS(bmm(rnd({2, 3, 4}), rnd({3, 4, 2})), "batch sizes differ (2 vs 3)");
  EXPECT_ERROR_HAS(bmm(rnd({2, 3, 4}), rnd({2, 5, 2})), "inner dimensions differ (4 vs 5)");
}

TEST_F(Linalg, DotRejectsMatricesAndSizeMismatch) {
  EXPECT_ERROR_HAS(dot(rnd({2, 2}), rnd({2})), "dot: ");
  EXPECT_ERROR_HAS(dot(rnd({2, 2}), rnd({2})), "expected 1-D vectors");
  EXPECT_ERROR_HAS(dot(rnd({3}), rnd({2})), "vector sizes differ (3 vs 2)");
}

TEST_F(Linalg, OuterRejectsMatrices) {
  EXPECT_ERROR_HAS(outer(rnd({2, 2}), rnd({2})), "outer: ");
  EXPECT_ERROR_HAS(outer(rnd({2}), rnd({1, 2})), "expected 1-D vectors, got 1-D and 2-D");
}

TEST_F(Linalg, AddmmRejectsBadShapes) {
  EXPECT_ERROR_HAS(addmm(rnd({2, 2}), rnd({2, 3}), rnd({4, 2})), "inner dimensions differ (3 vs 4)");
  EXPECT_ERROR_HAS(addmm(rnd({3, 2}), rnd({2, 3}), rnd({3, 2})), "input must broadcast to [2, 2], got [3, 2]");
  EXPECT_ERROR_HAS(addmm(rnd({1, 2, 2}), rnd({2, 3}), rnd({3, 2})), "input must broadcast to [2, 2]");
  EXPECT_ERROR_HAS(addmm(rnd({2}), rnd({3}), rnd({3, 2})), "expected 2-D matrices to multiply");
}

TEST_F(Linalg, AddmmRejectsFloatScalesForIntegers) {
  Tensor i = rnd_int({2, 2});
  EXPECT_ERROR_HAS(addmm(i, i, i, 0.5), "beta and alpha must be integers");
}

TEST_F(Linalg, OpDefsCarryOnnxNames) {
  EXPECT_STREQ(ops::find_op("matmul")->onnx_op, "MatMul");
  EXPECT_STREQ(ops::find_op("mm")->onnx_op, "MatMul");
  EXPECT_STREQ(ops::find_op("addmm")->onnx_op, "Gemm");
  EXPECT_NE(ops::find_op("bmm"), nullptr);
  EXPECT_NE(ops::find_op("outer"), nullptr);
  EXPECT_NE(ops::find_op("dot"), nullptr);
}

}  // namespace
}  // namespace tessera
