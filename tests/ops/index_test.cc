// Known-value tests of the index family: gather, scatter (+ _add, in place),
// index_select, index_put (+ in place), one_hot, sort, topk.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <limits>
#include <string>
#include <vector>

#include "tessera/ops.h"
#include "test_util.h"

namespace tessera {
namespace {

using I64 = std::vector<int64_t>;
using F32 = std::vector<float>;

I64 shape_of(const Tensor& t) { return t.sizes().vec(); }

Tensor idx(I64 values, I64 shape = {}) { return tensor<int64_t>(values, shape); }

Tensor iota_f(I64 shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return arange(0, n, 1, kFloat32).reshape(shape);
}

// ---------------------------------------------------------------- gather

TEST(IndexGather, Dim1) {
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor r = gather(x, 1, idx({0, 0, 1, 0}, {2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 1, 4, 3}));
}

TEST(IndexGather, Dim0AndNegativeDim) {
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(gather(x, 0, idx({1, 0}, {1, 2})).to_vector<float>(), (F32{3, 2}));
  EXPECT_EQ(gather(x, -1, idx({1, 1}, {2, 1})).to_vector<float>(), (F32{2, 4}));
}

TEST(IndexGather, IndexSmallerThanInput) {
  Tensor x = iota_f({3, 3});
  Tensor r = gather(x, 1, idx({2, 0}, {2, 1}));
  EXPECT_EQ(shape_of(r), (I64{2, 1}));
  EXPECT_EQ(r.to_vector<float>(), (F32{2, 3}));
}

TEST(IndexGather, IndexLongerAlongDim) {
  Tensor x = tensor<int64_t>({10, 20});
  EXPECT_EQ(gather(x, 0, idx({1, 1, 0, 1})).to_vector<int64_t>(), (I64{20, 20, 10, 20}));
}

TEST(IndexGather, NonContiguousInput) {
  Tensor x = iota_f({2, 3}).t();  // 0 3 / 1 4 / 2 5
  Tensor r = gather(x, 1, idx({1, 0, 1}, {3, 1}));
  EXPECT_EQ(r.to_vector<float>(), (F32{3, 1, 5}));
}

TEST(IndexGather, NonContiguousIndex) {
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor i = idx({0, 0, 1, 1}, {2, 2}).t();  // 0 1 / 0 1
  EXPECT_EQ(gather(x, 0, i).to_vector<float>(), (F32{1, 4, 1, 4}));
}

TEST(IndexGather, Dtypes) {
  EXPECT_EQ(gather(tensor<bool>({true, false}), 0, idx({1, 0, 0})).to_vector<bool>(),
            (std::vector<bool>{false, true, true}));
  EXPECT_EQ(gather(tensor<double>({0.5, 1.5}), 0, idx({1})).to_vector<double>(),
            (std::vector<double>{1.5}));
  Tensor h = gather(tensor<Half>({Half(1.0f), Half(2.0f)}), 0, idx({1, 0}));
  EXPECT_EQ(h.dtype(), kFloat16);
  EXPECT_EQ(h.to_vector<float>(), (F32{2, 1}));
}

TEST(IndexGather, EmptyIndex) {
  Tensor r = gather(iota_f({2, 3}), 1, empty({2, 0}, kInt64));
  EXPECT_EQ(shape_of(r), (I64{2, 0}));
}

TEST(IndexGather, LargeParallel) {
  // Lines run along dim 0 (1000 long), 100 of them: enough for several threads.
  Tensor x = arange(0, 100000, 1, kFloat32).reshape({1000, 100});
  Tensor i = full({1000, 100}, 999, kInt64);
  Tensor r = gather(x, 0, i);
  std::vector<float> v = r.to_vector<float>();
  EXPECT_FLOAT_EQ(v[0], 99900.0f);
  EXPECT_FLOAT_EQ(v[99999], 99999.0f);
}

TEST(IndexGather, ErrorOutOfRange) {
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_ERROR_HAS(gather(x, 1, idx({0, 2, 0, 0}, {2, 2})), "index 2 is out of bounds for dim 1 with size 2");
  EXPECT_ERROR_HAS(gather(x, 1, idx({0, 2, 0, 0}, {2, 2})), "gather: [2, 2] f32, [2, 2] i64:");
}

TEST(IndexGather, ErrorNegativeIndex) {
  EXPECT_ERROR_HAS(gather(tensor<float>({1, 2}), 0, idx({-1})), "valid range: 0 to 1");
}

TEST(IndexGather, ErrorIndexDtypeAndRank) {
  Tensor x = zeros({2, 2});
  EXPECT_ERROR_HAS(gather(x, 0, tensor<int32_t>({0, 1}, {1, 2})), "int64 index");
  EXPECT_ERROR_HAS(gather(x, 0, idx({0, 1})), "as many dims");
  EXPECT_ERROR_HAS(gather(x, 0, idx({0, 0, 0}, {1, 3})), "exceeds the input's size");
  EXPECT_ERROR_HAS(gather(x, 2, idx({0, 0}, {1, 2})), "dim 2 is out of range");
}

// ---------------------------------------------------------------- scatter

TEST(IndexScatter, Dim1) {
  Tensor r = scatter(zeros({2, 3}), 1, idx({0, 2, 1, 0}, {2, 2}),
                     tensor<float>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 0, 2, 4, 3, 0}));
}

TEST(IndexScatter, Dim0) {
  Tensor r = scatter(zeros({3, 2}), 0, idx({2, 0}, {1, 2}), tensor<float>({5, 6}, {1, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 6, 0, 0, 5, 0}));
}

TEST(IndexScatter, LeavesInputUntouched) {
  Tensor x = zeros({3});
  Tensor r = scatter(x, 0, idx({1}), tensor<float>({9}));
  EXPECT_EQ(x.to_vector<float>(), (F32{0, 0, 0}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 9, 0}));
}

TEST(IndexScatter, DuplicateIndexLastWins) {
  Tensor r = scatter(zeros({3}), 0, idx({1, 1}), tensor<float>({5, 6}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 6, 0}));
}

TEST(IndexScatter, SrcLargerThanIndex) {
  Tensor src = iota_f({2, 3}) + 1;
  Tensor r = scatter(zeros({2, 2}), 1, idx({1, 0}, {1, 2}), src);
  EXPECT_EQ(r.to_vector<float>(), (F32{2, 1, 0, 0}));
}

TEST(IndexScatter, ScalarValue) {
  Tensor r = scatter(zeros({2, 2}), 1, idx({1, 0}, {2, 1}), Scalar(7.0));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 7, 7, 0}));
  Tensor ri = scatter(zeros({3}, kInt64), 0, idx({2}), Scalar(4));
  EXPECT_EQ(ri.to_vector<int64_t>(), (I64{0, 0, 4}));
}

TEST(IndexScatter, NonContiguousInputAndSrc) {
  Tensor x = iota_f({2, 2}).t();  // 0 2 / 1 3
  Tensor src = (iota_f({2, 2}) + 10).t();  // 10 12 / 11 13
  Tensor r = scatter(x, 0, idx({1, 0}, {1, 2}), src);
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 12, 10, 3}));
}

TEST(IndexScatter, BoolAndInt8) {
  Tensor r = scatter(tensor<bool>({false, false}), 0, idx({1}), tensor<bool>({true}));
  EXPECT_EQ(r.to_vector<bool>(), (std::vector<bool>{false, true}));
  Tensor r8 = scatter(tensor<int8_t>({1, 2}), 0, idx({0}), tensor<int8_t>({-3}));
  EXPECT_EQ(r8.to_vector<int64_t>(), (I64{-3, 2}));
}

TEST(IndexScatter, EmptyIndexCopies) {
  Tensor r = scatter(tensor<float>({1, 2}), 0, empty({0}, kInt64), empty({0}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2}));
}

TEST(IndexScatter, ErrorOutOfRange) {
  EXPECT_ERROR_HAS(scatter(zeros({2, 2}), 0, idx({0, 5}, {1, 2}), zeros({1, 2})),
                   "index 5 is out of bounds for dim 0 with size 2");
}

TEST(IndexScatter, ErrorDtypeMismatch) {
  EXPECT_ERROR_HAS(scatter(zeros({2}), 0, idx({0}), tensor<double>({1.0})),
                   "expected src to have the input's dtype f32, got f64");
  EXPECT_ERROR_HAS(scatter(zeros({2}), 0, tensor<float>({0}), zeros({1})), "int64 index");
}

TEST(IndexScatter, ErrorShapes) {
  EXPECT_ERROR_HAS(scatter(zeros({2, 2}), 0, idx({0, 0, 0}, {1, 3}), zeros({1, 3})),
                   "exceeds the input's size");
  EXPECT_ERROR_HAS(scatter(zeros({2, 2}), 0, idx({0, 0}, {1, 2}), zeros({1, 1})),
                   "exceeds the src size");
}

TEST(IndexScatterAdd, Accumulates) {
  Tensor r = scatter_add(zeros({3}), 0, idx({0, 1, 0, 2, 0}), ones({5}));
  EXPECT_EQ(r.to_vector<float>(), (F32{3, 1, 1}));
}

TEST(IndexScatterAdd, TwoD) {
  Tensor r = scatter_add(ones({2, 2}), 1, idx({0, 0, 1, 1}, {2, 2}),
                         tensor<float>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{4, 1, 1, 8}));
}

TEST(IndexScatterAdd, Int64AndFloat64) {
  Tensor r = scatter_add(tensor<int64_t>({10, 20}), 0, idx({1, 1}), tensor<int64_t>({1, 2}));
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{10, 23}));
  Tensor d = scatter_add(tensor<double>({0.5}), 0, idx({0, 0}), tensor<double>({0.25, 0.25}));
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1.0}));
}

TEST(IndexScatterAdd, LargeParallelRows) {
  // 2000 rows, each adding its 50 ones into column 0.
  Tensor src = ones({2000, 50});
  Tensor r = scatter_add(zeros({2000, 2}), 1, zeros({2000, 50}, kInt64), src);
  std::vector<float> v = r.to_vector<float>();
  EXPECT_FLOAT_EQ(v[0], 50.0f);
  EXPECT_FLOAT_EQ(v[2 * 1999], 50.0f);
  EXPECT_FLOAT_EQ(v[2 * 1999 + 1], 0.0f);
}

TEST(IndexScatterInPlace, WritesAndBumpsVersion) {
  Tensor x = zeros({3});
  const uint64_t before = x.storage()->version();
  Tensor& ret = scatter_(x, 0, idx({2}), tensor<float>({4}));
  EXPECT_TRUE(ret.is_same(x));
  EXPECT_GT(x.storage()->version(), before);
  EXPECT_EQ(x.to_vector<float>(), (F32{0, 0, 4}));
}

TEST(IndexScatterInPlace, AddIntoView) {
  Tensor base = zeros({2, 2});
  Tensor view = base.t();
  scatter_add_(view, 0, idx({1, 1}, {1, 2}), tensor<float>({5, 6}, {1, 2}));
  // view[1][0] += 5 is base[0][1]; view[1][1] += 6 is base[1][1].
  EXPECT_EQ(base.to_vector<float>(), (F32{0, 5, 0, 6}));
}

TEST(IndexScatterInPlace, ErrorLeavesInputUnchanged) {
  Tensor x = tensor<float>({1, 2});
  EXPECT_THROW(scatter_(x, 0, idx({0, 3}), tensor<float>({8, 9})), Error);
  EXPECT_EQ(x.to_vector<float>(), (F32{1, 2}));
}

// ---------------------------------------------------------------- index_select

TEST(IndexSelect, Dim0) {
  Tensor x = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = index_select(x, 0, idx({1, 0, 1}));
  EXPECT_EQ(shape_of(r), (I64{3, 3}));
  EXPECT_EQ(r.to_vector<float>(), (F32{4, 5, 6, 1, 2, 3, 4, 5, 6}));
}

TEST(IndexSelect, Dim1AndNegative) {
  Tensor x = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(index_select(x, 1, idx({2, 0})).to_vector<float>(), (F32{3, 1, 6, 4}));
  EXPECT_EQ(index_select(x, -1, idx({1})).to_vector<float>(), (F32{2, 5}));
}

TEST(IndexSelect, Int32Index) {
  Tensor r = index_select(tensor<int64_t>({7, 8, 9}), 0, tensor<int32_t>({2, 2, 0}));
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{9, 9, 7}));
}

TEST(IndexSelect, ZeroDimIndex) {
  Tensor x = iota_f({2, 3});
  Tensor r = index_select(x, 0, scalar_tensor(1, kInt64));
  EXPECT_EQ(shape_of(r), (I64{1, 3}));
  EXPECT_EQ(r.to_vector<float>(), (F32{3, 4, 5}));
}

TEST(IndexSelect, NonContiguousInput) {
  Tensor x = iota_f({2, 3}).t();  // 0 3 / 1 4 / 2 5
  EXPECT_EQ(index_select(x, 0, idx({2, 0})).to_vector<float>(), (F32{2, 5, 0, 3}));
  EXPECT_EQ(index_select(x, 1, idx({1, 1, 0})).to_vector<float>(),
            (F32{3, 3, 0, 4, 4, 1, 5, 5, 2}));
}

TEST(IndexSelect, DtypesAndEmpty) {
  EXPECT_EQ(index_select(tensor<bool>({true, false}), 0, idx({1, 0})).to_vector<bool>(),
            (std::vector<bool>{false, true}));
  Tensor h = index_select(tensor<BFloat16>({BFloat16(1.0f), BFloat16(3.0f)}), 0, idx({1}));
  EXPECT_EQ(h.dtype(), kBFloat16);
  EXPECT_EQ(h.to_vector<float>(), (F32{3}));
  EXPECT_EQ(shape_of(index_select(iota_f({2, 3}), 0, empty({0}, kInt64))), (I64{0, 3}));
}

TEST(IndexSelect, ErrorOutOfRange) {
  EXPECT_ERROR_HAS(index_select(zeros({2, 3}), 0, idx({0, 2})),
                   "index 2 is out of bounds for dim 0 with size 2 (valid range: 0 to 1)");
  EXPECT_ERROR_HAS(index_select(zeros({2, 3}), 1, idx({-1})), "index -1 is out of bounds");
}

TEST(IndexSelect, ErrorIndexShapeAndDtype) {
  EXPECT_ERROR_HAS(index_select(zeros({2, 3}), 0, idx({0, 0}, {1, 2})), "0-d or 1-D");
  EXPECT_ERROR_HAS(index_select(zeros({2, 3}), 0, tensor<float>({0})), "int64 or int32");
}

// ---------------------------------------------------------------- index_put

TEST(IndexPut, OneD) {
  Tensor r = index_put(zeros({5}), {idx({0, 2})}, tensor<float>({1, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 0, 2, 0, 0}));
}

TEST(IndexPut, NegativeIndexWraps) {
  Tensor r = index_put(zeros({3}), {idx({-1})}, tensor<float>({9}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 0, 9}));
}

TEST(IndexPut, ScalarValueBroadcasts) {
  Tensor r = index_put(zeros({4}), {idx({1, 3})}, scalar_tensor(5.0));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 5, 0, 5}));
}

TEST(IndexPut, AccumulateDuplicates) {
  Tensor r = index_put(zeros({3}), {idx({0, 0, 2})}, tensor<float>({1, 2, 3}), true);
  EXPECT_EQ(r.to_vector<float>(), (F32{3, 0, 3}));
}

TEST(IndexPut, DuplicatesWithoutAccumulateLastWins) {
  Tensor r = index_put(zeros({2}), {idx({0, 0})}, tensor<float>({1, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{2, 0}));
}

TEST(IndexPut, TwoIndexTensors) {
  Tensor r = index_put(zeros({3, 3}), {idx({0, 2}), idx({1, 2})}, tensor<float>({5, 6}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 5, 0, 0, 0, 0, 0, 0, 6}));
}

TEST(IndexPut, IndicesBroadcastTogether) {
  Tensor r = index_put(zeros({2, 3}), {idx({0, 1}, {2, 1}), idx({0, 2})}, scalar_tensor(1.0));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 0, 1, 1, 0, 1}));
}

TEST(IndexPut, PartialIndexWritesRows) {
  Tensor r = index_put(zeros({3, 2}), {idx({2, 0})}, tensor<float>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{3, 4, 0, 0, 1, 2}));
  Tensor b = index_put(zeros({3, 2}), {idx({1, 2})}, tensor<float>({7, 8}));
  EXPECT_EQ(b.to_vector<float>(), (F32{0, 0, 7, 8, 7, 8}));
}

TEST(IndexPut, BoolMask) {
  Tensor x = tensor<float>({1, 2, 3, 4});
  Tensor mask = tensor<bool>({true, false, true, false});
  EXPECT_EQ(index_put(x, {mask}, scalar_tensor(0.0f)).to_vector<float>(), (F32{0, 2, 0, 4}));
  EXPECT_EQ(index_put(x, {mask}, tensor<float>({8, 9})).to_vector<float>(), (F32{8, 2, 9, 4}));
}

TEST(IndexPut, BoolMask2D) {
  Tensor x = iota_f({2, 2});
  Tensor mask = tensor<bool>({true, false, false, true}, {2, 2});
  EXPECT_EQ(index_put(x, {mask}, tensor<float>({10, 20})).to_vector<float>(),
            (F32{10, 1, 2, 20}));
}

TEST(IndexPut, BoolMaskOnLeadingDim) {
  Tensor r = index_put(zeros({3, 2}), {tensor<bool>({false, true, true})}, tensor<float>({7, 8}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 0, 7, 8, 7, 8}));
}

TEST(IndexPut, NonContiguousInputAndAccumulateInt) {
  Tensor x = arange(4).reshape({2, 2}).t();  // 0 2 / 1 3
  Tensor r = index_put(x, {idx({1}), idx({0})}, tensor<int64_t>({10}), true);
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{0, 2, 11, 3}));
}

TEST(IndexPut, EmptyIndexChangesNothing) {
  Tensor r = index_put(tensor<float>({1, 2}), {empty({0}, kInt64)}, empty({0}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2}));
}

TEST(IndexPut, Int32IndexAndBool) {
  Tensor r = index_put(tensor<bool>({false, false, false}), {tensor<int32_t>({1})},
                       tensor<bool>({true}));
  EXPECT_EQ(r.to_vector<bool>(), (std::vector<bool>{false, true, false}));
}

TEST(IndexPut, InPlaceBumpsVersion) {
  Tensor x = zeros({2, 2});
  const uint64_t before = x.storage()->version();
  Tensor& ret = index_put_(x, {idx({1}), idx({1})}, tensor<float>({3}), false);
  EXPECT_TRUE(ret.is_same(x));
  EXPECT_GT(x.storage()->version(), before);
  EXPECT_EQ(x.to_vector<float>(), (F32{0, 0, 0, 3}));
  index_put_(x, {idx({1}), idx({1})}, tensor<float>({3}), true);
  EXPECT_EQ(x.to_vector<float>(), (F32{0, 0, 0, 6}));
}

TEST(IndexPut, ErrorOutOfRange) {
  EXPECT_ERROR_HAS(index_put(zeros({3}), {idx({5})}, tensor<float>({1})),
                   "index 5 is out of bounds for dim 0 with size 3 (valid range: -3 to 2)");
  EXPECT_ERROR_HAS(index_put(zeros({3}), {idx({-4})}, tensor<float>({1})), "index -4");
}

TEST(IndexPut, ErrorTooManyIndices) {
  EXPECT_ERROR_HAS(index_put(zeros({3}), {idx({0}), idx({0})}, tensor<float>({1})),
                   "too many indices");
}

TEST(IndexPut, ErrorMaskShape) {
  EXPECT_ERROR_HAS(index_put(zeros({3}), {tensor<bool>({true, false})}, tensor<float>({1})),
                   "shape of the mask [2]");
}

TEST(IndexPut, ErrorValuesShape) {
  EXPECT_ERROR_HAS(index_put(zeros({3}), {idx({0, 1})}, tensor<float>({1, 2, 3})),
                   "values of shape [3] cannot be broadcast to the indexed result of shape [2]");
}

TEST(IndexPut, ErrorDtypesAndBroadcast) {
  EXPECT_ERROR_HAS(index_put(zeros({3}), {idx({0})}, tensor<double>({1})), "values to have");
  EXPECT_ERROR_HAS(index_put(zeros({3}), {tensor<float>({0})}, tensor<float>({1})),
                   "int64, int32 or bool");
  EXPECT_ERROR_HAS(index_put(zeros({3, 3}), {idx({0, 1}), idx({0, 1, 2})}, scalar_tensor(1.0f)),
                   "could not be broadcast together");
  EXPECT_ERROR_HAS(index_put(zeros({3}), {}, scalar_tensor(1.0f)), "at least one index");
}

// ---------------------------------------------------------------- 0-d inputs

TEST(IndexZeroDim, GatherScalar) {
  Tensor r = gather(scalar_tensor(3.0), 0, scalar_tensor(0, kInt64));
  EXPECT_EQ(r.dim(), 0);
  EXPECT_EQ(r.item<double>(), 3.0);
  EXPECT_ERROR_HAS(gather(scalar_tensor(3.0), 0, scalar_tensor(1, kInt64)), "index 1 is out of bounds");
}

TEST(IndexZeroDim, IndexSelectScalar) {
  Tensor r = index_select(scalar_tensor(5.0), 0, idx({0, 0}));
  EXPECT_EQ(shape_of(r), (I64{2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{5, 5}));
}

TEST(IndexZeroDim, TopKScalar) {
  auto [v, i] = topk(scalar_tensor(2.0), 1);
  EXPECT_EQ(v.dim(), 0);
  EXPECT_EQ(v.item<double>(), 2.0);
  EXPECT_EQ(i.item<int64_t>(), 0);
}

// ---------------------------------------------------------------- one_hot

TEST(IndexOneHot, InfersClasses) {
  Tensor r = one_hot(idx({0, 2, 1}));
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(shape_of(r), (I64{3, 3}));
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{1, 0, 0, 0, 0, 1, 0, 1, 0}));
}

TEST(IndexOneHot, GivenClassesAnd2D) {
  Tensor r = one_hot(idx({1, 0, 3, 1}, {2, 2}), 4);
  EXPECT_EQ(shape_of(r), (I64{2, 2, 4}));
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0}));
}

TEST(IndexOneHot, NonContiguousAndEmpty) {
  Tensor labels = idx({0, 1, 2, 0}, {2, 2}).t();  // 0 2 / 1 0
  EXPECT_EQ(one_hot(labels, 3).to_vector<int64_t>(), (I64{1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(shape_of(one_hot(empty({0}, kInt64), 5)), (I64{0, 5}));
}

TEST(IndexOneHot, Errors) {
  EXPECT_ERROR_HAS(one_hot(idx({0, -1})), "non-negative, got -1");
  EXPECT_ERROR_HAS(one_hot(idx({0, 3}), 3), "smaller than num_classes (3), got 3");
  EXPECT_ERROR_HAS(one_hot(empty({0}, kInt64)), "empty tensor");
  EXPECT_ERROR_HAS(one_hot(tensor<float>({0})), "int64 class labels");
}

// ---------------------------------------------------------------- sort

TEST(IndexSort, Ascending) {
  auto [v, i] = sort(tensor<float>({3, 1, 2}));
  EXPECT_EQ(v.to_vector<float>(), (F32{1, 2, 3}));
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{1, 2, 0}));
}

TEST(IndexSort, Descending) {
  auto [v, i] = sort(tensor<float>({3, 1, 2}), -1, true);
  EXPECT_EQ(v.to_vector<float>(), (F32{3, 2, 1}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{0, 2, 1}));
}

TEST(IndexSort, StableTies) {
  auto [v, i] = sort(tensor<int64_t>({2, 1, 2, 1}));
  EXPECT_EQ(v.to_vector<int64_t>(), (I64{1, 1, 2, 2}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{1, 3, 0, 2}));
  auto [vd, id] = sort(tensor<int64_t>({2, 1, 2, 1}), 0, true);
  EXPECT_EQ(vd.to_vector<int64_t>(), (I64{2, 2, 1, 1}));
  EXPECT_EQ(id.to_vector<int64_t>(), (I64{0, 2, 1, 3}));
}

TEST(IndexSort, NaNIsLargest) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto [v, i] = sort(tensor<float>({nan, 1, 0}));
  std::vector<float> vals = v.to_vector<float>();
  EXPECT_EQ(vals[0], 0.0f);
  EXPECT_EQ(vals[1], 1.0f);
  EXPECT_TRUE(std::isnan(vals[2]));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{2, 1, 0}));
  auto [vd, id] = sort(tensor<float>({1, nan, 0}), 0, true);
  EXPECT_TRUE(std::isnan(vd.to_vector<float>()[0]));
  EXPECT_EQ(id.to_vector<int64_t>(), (I64{1, 0, 2}));
}

TEST(IndexSort, Dim0) {
  auto [v, i] = sort(tensor<float>({3, 1, 1, 2}, {2, 2}), 0);
  EXPECT_EQ(v.to_vector<float>(), (F32{1, 1, 3, 2}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{1, 0, 0, 1}));
}

TEST(IndexSort, NonContiguous) {
  Tensor x = tensor<float>({5, 1, 4, 2, 3, 0}, {2, 3}).t();  // 5 2 / 1 3 / 4 0
  auto [v, i] = sort(x, 1);
  EXPECT_EQ(v.to_vector<float>(), (F32{2, 5, 1, 3, 0, 4}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{1, 0, 0, 1, 1, 0}));
}

TEST(IndexSort, DtypesBoolDoubleHalf) {
  EXPECT_EQ(sort(tensor<bool>({true, false, true})).first.to_vector<bool>(),
            (std::vector<bool>{false, true, true}));
  EXPECT_EQ(sort(tensor<double>({0.5, -0.5})).first.to_vector<double>(),
            (std::vector<double>{-0.5, 0.5}));
  auto [vh, ih] = sort(tensor<Half>({Half(2.0f), Half(-1.0f)}));
  EXPECT_EQ(vh.dtype(), kFloat16);
  EXPECT_EQ(vh.to_vector<float>(), (F32{-1, 2}));
  EXPECT_EQ(ih.to_vector<int64_t>(), (I64{1, 0}));
}

TEST(IndexSort, EmptyAndScalar) {
  auto [v, i] = sort(empty({2, 0}), 1);
  EXPECT_EQ(shape_of(v), (I64{2, 0}));
  EXPECT_EQ(shape_of(i), (I64{2, 0}));
  auto [vs, is] = sort(scalar_tensor(3.0));
  EXPECT_EQ(vs.item<double>(), 3.0);
  EXPECT_EQ(is.item<int64_t>(), 0);
}

TEST(IndexSort, ManyRowsParallel) {
  // Rows of [2, 1, 0] repeated: each sorts to [0, 1, 2] with indices [2, 1, 0].
  Tensor x = repeat(tensor<int32_t>({2, 1, 0}, {1, 3}), I64{20000, 1});
  auto [v, i] = sort(x, 1);
  std::vector<int64_t> vv = v.to_vector<int64_t>(), iv = i.to_vector<int64_t>();
  EXPECT_EQ(vv[3 * 19999], 0);
  EXPECT_EQ(vv[3 * 19999 + 2], 2);
  EXPECT_EQ(iv[3 * 12345], 2);
}

// float32 lines are ordered by integer keys (a radix sort from 256 elements): against
// std::stable_sort with the op's rule (-0 equal to +0, NaN past every number, first for
// descending), values compared bit for bit (NaN payloads, zero signs) and indices exactly.
// Lengths on both sides of 256, ties, +-0, infinities, NaNs of both signs, a strided line,
// and topk's partial sort on the same data.
TEST(IndexSort, LongFloatLinesMatchAStableReference) {
  std::mt19937 gen(9);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (int64_t n : {100, 257, 3000}) {
    std::vector<float> x(static_cast<size_t>(3 * n));
    for (float& v : x) {
      const uint32_t r = gen() % 20;
      v = r == 0 ? nan : r == 1 ? -nan : r == 2 ? inf : r == 3 ? -inf : r == 4 ? 0.f : r == 5 ? -0.f
                                                                : static_cast<float>(static_cast<int>(gen() % 7) - 3);
    }
    for (bool descending : {false, true}) {
      auto before = [descending](float a, float b) {
        if (std::isnan(a) || std::isnan(b)) return descending ? std::isnan(a) && !std::isnan(b) : !std::isnan(a) && std::isnan(b);
        return descending ? a > b : a < b;
      };
      for (bool strided : {false, true}) {
        // Three lines of n: rows of a [3, n] tensor, or columns of its [n, 3] transpose.
        const Tensor t = strided ? tensor<float>(x, {n, 3}) : tensor<float>(x, {3, n});
        auto [v, i] = sort(t, strided ? 0 : 1, descending);
        auto [tv, ti] = topk(t, 5, strided ? 0 : 1, descending);  // largest first = descending
        const Tensor vv = strided ? v.t().contiguous() : v, ii = strided ? i.t().contiguous() : i;
        const Tensor tvv = strided ? tv.t().contiguous() : tv, tii = strided ? ti.t().contiguous() : ti;
        const std::vector<float> got_v = vv.to_vector<float>(), got_tv = tvv.to_vector<float>();
        const std::vector<int64_t> got_i = ii.to_vector<int64_t>(), got_ti = tii.to_vector<int64_t>();
        for (int64_t line = 0; line < 3; ++line) {
          auto at = [&](int64_t j) { return x[static_cast<size_t>(strided ? j * 3 + line : line * n + j)]; };
          std::vector<int64_t> order(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) order[static_cast<size_t>(j)] = j;
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return before(at(a), at(b)); });
          for (int64_t j = 0; j < n; ++j) {
            const size_t g = static_cast<size_t>(line * n + j);
            const float want = at(order[static_cast<size_t>(j)]);
            ASSERT_EQ(got_i[g], order[static_cast<size_t>(j)]) << "n " << n << " line " << line << " at " << j;
            ASSERT_EQ(std::memcmp(&got_v[g], &want, 4), 0) << "n " << n << " line " << line << " at " << j;
            if (j < 5) {
              const size_t tg = static_cast<size_t>(line * 5 + j);
              ASSERT_EQ(got_ti[tg], order[static_cast<size_t>(j)]) << "topk n " << n << " line " << line << " at " << j;
            }
          }
        }
      }
    }
  }
}

TEST(IndexSort, ErrorBadDim) {
  EXPECT_ERROR_HAS(sort(zeros({2, 2}), 2), "dim 2 is out of range");
}

// ---------------------------------------------------------------- topk

TEST(IndexTopK, Largest) {
  auto [v, i] = topk(tensor<float>({1, 5, 3, 4}), 2);
  EXPECT_EQ(v.to_vector<float>(), (F32{5, 4}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{1, 3}));
}

TEST(IndexTopK, Smallest) {
  auto [v, i] = topk(tensor<float>({1, 5, 3, 4}), 2, -1, false);
  EXPECT_EQ(v.to_vector<float>(), (F32{1, 3}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{0, 2}));
}

TEST(IndexTopK, Dim0AndTies) {
  auto [v, i] = topk(tensor<int64_t>({1, 7, 4, 7, 4, 2}, {3, 2}), 2, 0);
  EXPECT_EQ(shape_of(v), (I64{2, 2}));
  // Equal values keep their order: column 0 picks rows 1 then 2.
  EXPECT_EQ(v.to_vector<int64_t>(), (I64{4, 7, 4, 7}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{1, 0, 2, 1}));
}

TEST(IndexTopK, KZeroAndKAll) {
  auto [v0, i0] = topk(tensor<float>({1, 2}), 0);
  EXPECT_EQ(shape_of(v0), (I64{0}));
  EXPECT_EQ(shape_of(i0), (I64{0}));
  auto [va, ia] = topk(tensor<float>({1, 3, 2}), 3);
  EXPECT_EQ(va.to_vector<float>(), (F32{3, 2, 1}));
  EXPECT_EQ(ia.to_vector<int64_t>(), (I64{1, 2, 0}));
}

TEST(IndexTopK, NaNCountsAsLargest) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto [v, i] = topk(tensor<float>({1, nan, 3}), 1);
  EXPECT_TRUE(std::isnan(v.to_vector<float>()[0]));
  EXPECT_EQ(i.item<int64_t>(), 1);
  auto [vs, is] = topk(tensor<float>({1, nan, 3}), 2, 0, false);
  EXPECT_EQ(vs.to_vector<float>(), (F32{1, 3}));
}

TEST(IndexTopK, NonContiguousDouble) {
  Tensor x = tensor<double>({5, 1, 4, 2, 3, 0}, {2, 3}).t();  // 5 2 / 1 3 / 4 0
  auto [v, i] = topk(x, 1, 1);
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{5, 3, 4}));
  EXPECT_EQ(i.to_vector<int64_t>(), (I64{0, 1, 0}));
}

TEST(IndexTopK, ErrorKOutOfRange) {
  EXPECT_ERROR_HAS(topk(zeros({3}), 4), "k (4) is out of range for dim 0 of size 3");
  EXPECT_ERROR_HAS(topk(zeros({3}), -1), "k (-1) is out of range");
}

}  // namespace
}  // namespace tessera
