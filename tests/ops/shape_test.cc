// Known-value tests of the shape family: cat, stack, split, chunk, repeat, tile, flip,
// roll, tril, triu.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/ops.h"
#include "test_util.h"

namespace tessera {
namespace {

using I64 = std::vector<int64_t>;
using F32 = std::vector<float>;

I64 shape_of(const Tensor& t) { return t.sizes().vec(); }

// 0..n-1 as f32 in the given shape.
Tensor iota_f(I64 shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return arange(0, n, 1, kFloat32).reshape(shape);
}

// ---------------------------------------------------------------- cat

TEST(ShapeCat, Dim0) {
  Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor<float>({5, 6}, {1, 2});
  Tensor r = cat({a, b}, 0);
  EXPECT_EQ(shape_of(r), (I64{3, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 3, 4, 5, 6}));
}

TEST(ShapeCat, Dim1) {
  Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor<float>({5, 6}, {2, 1});
  Tensor r = cat({a, b}, 1);
  EXPECT_EQ(shape_of(r), (I64{2, 3}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 5, 3, 4, 6}));
}

TEST(ShapeCat, NegativeDim) {
  Tensor a = tensor<int64_t>({1, 2}, {2, 1});
  Tensor b = tensor<int64_t>({3, 4}, {2, 1});
  Tensor r = cat({a, b}, -1);
  EXPECT_EQ(shape_of(r), (I64{2, 2}));
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{1, 3, 2, 4}));
}

TEST(ShapeCat, SingleTensorIsACopy) {
  Tensor a = tensor<float>({1, 2, 3});
  Tensor r = cat({a});
  EXPECT_FALSE(r.shares_storage(a));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 3}));
}

TEST(ShapeCat, PromotesDtypes) {
  Tensor a = tensor<int64_t>({1, 2});
  Tensor b = tensor<float>({0.5f});
  Tensor r = cat({a, b});
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 0.5f}));
}

TEST(ShapeCat, PromotesBoolAndInt) {
  Tensor a = tensor<bool>({true, false});
  Tensor b = tensor<int32_t>({7});
  Tensor r = cat({a, b});
  EXPECT_EQ(r.dtype(), kInt32);
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{1, 0, 7}));
}

TEST(ShapeCat, NonContiguousInputs) {
  Tensor a = iota_f({2, 3}).t();  // [3, 2]: 0 3 / 1 4 / 2 5
  Tensor b = iota_f({3, 4}).slice(1, 0, 4, 2);  // [3, 2]: 0 2 / 4 6 / 8 10
  Tensor r = cat({a, b}, 1);
  EXPECT_EQ(shape_of(r), (I64{3, 4}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 3, 0, 2, 1, 4, 4, 6, 2, 5, 8, 10}));
}

TEST(ShapeCat, SkipsLegacyEmpty1D) {
  Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor e = empty({0}, kFloat32);
  Tensor r = cat({e, a, e}, 1);
  EXPECT_EQ(shape_of(r), (I64{2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 3, 4}));
}

TEST(ShapeCat, AllEmpty1D) {
  Tensor r = cat({empty({0}), empty({0})});
  EXPECT_EQ(shape_of(r), (I64{0}));
}

TEST(ShapeCat, ZeroSizeAlongDim) {
  Tensor a = empty({2, 0});
  Tensor b = tensor<float>({1, 2}, {2, 1});
  Tensor r = cat({a, b}, 1);
  EXPECT_EQ(shape_of(r), (I64{2, 1}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2}));
}

TEST(ShapeCat, ThreeDMiddleDim) {
  Tensor a = iota_f({2, 1, 2});
  Tensor b = iota_f({2, 2, 2}) + 10;
  Tensor r = cat({a, b}, 1);
  EXPECT_EQ(shape_of(r), (I64{2, 3, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17}));
}

TEST(ShapeCat, Float64AndHalf) {
  Tensor a = tensor<double>({1.5, 2.5});
  Tensor b = tensor<double>({3.5});
  EXPECT_EQ(cat({a, b}).to_vector<double>(), (std::vector<double>{1.5, 2.5, 3.5}));
  Tensor h = cat({tensor<Half>({Half(1.0f)}), tensor<Half>({Half(-2.0f)})});
  EXPECT_EQ(h.dtype(), kFloat16);
  EXPECT_EQ(h.to_vector<float>(), (F32{1.0f, -2.0f}));
}

TEST(ShapeCat, LargeParallel) {
  Tensor a = ones({300, 200});
  Tensor b = zeros({300, 100});
  Tensor r = cat({a, b}, 1);
  EXPECT_EQ(shape_of(r), (I64{300, 300}));
  double total = 0;
  for (float v : r.to_vector<float>()) total += v;
  EXPECT_DOUBLE_EQ(total, 60000.0);
  EXPECT_FLOAT_EQ(r[299].to_vector<float>()[199], 1.0f);
  EXPECT_FLOAT_EQ(r[299].to_vector<float>()[200], 0.0f);
}

TEST(ShapeCat, ErrorEmptyList) {
  EXPECT_ERROR_HAS(cat({}), "non-empty list");
}

TEST(ShapeCat, ErrorSizeMismatch) {
  EXPECT_ERROR_HAS(cat({zeros({2, 3}), zeros({2, 4})}, 0), "sizes of tensors must match");
  EXPECT_ERROR_HAS(cat({zeros({2, 3}), zeros({2, 4})}, 0), "cat: [2, 3] f32, [2, 4] f32");
}

TEST(ShapeCat, ErrorRankMismatch) {
  EXPECT_ERROR_HAS(cat({zeros({2, 3}), zeros({3})}), "same number of dimensions");
}

TEST(ShapeCat, ErrorZeroDim) {
  EXPECT_ERROR_HAS(cat({scalar_tensor(1.0)}), "zero-dimensional");
}

TEST(ShapeCat, ErrorBadDim) {
  EXPECT_ERROR_HAS(cat({zeros({2}), zeros({2})}, 1), "dim 1 is out of range");
}

// ---------------------------------------------------------------- stack

TEST(ShapeStack, Dim0) {
  Tensor r = stack({tensor<float>({1, 2}), tensor<float>({3, 4}), tensor<float>({5, 6})});
  EXPECT_EQ(shape_of(r), (I64{3, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 3, 4, 5, 6}));
}

TEST(ShapeStack, LastDim) {
  Tensor r = stack({tensor<float>({1, 2}), tensor<float>({3, 4})}, -1);
  EXPECT_EQ(shape_of(r), (I64{2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 3, 2, 4}));
}

TEST(ShapeStack, MiddleDim) {
  Tensor a = iota_f({2, 2});
  Tensor b = iota_f({2, 2}) + 10;
  Tensor r = stack({a, b}, 1);
  EXPECT_EQ(shape_of(r), (I64{2, 2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 1, 10, 11, 2, 3, 12, 13}));
}

TEST(ShapeStack, Scalars) {
  Tensor r = stack({scalar_tensor(1, kInt64), scalar_tensor(2, kInt64)});
  EXPECT_EQ(shape_of(r), (I64{2}));
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{1, 2}));
}

TEST(ShapeStack, NonContiguousAndPromotion) {
  Tensor a = iota_f({2, 2}).t();
  Tensor b = tensor<int64_t>({7, 8, 9, 10}, {2, 2});
  Tensor r = stack({a, b});
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_EQ(r.to_vector<float>(), (F32{0, 2, 1, 3, 7, 8, 9, 10}));
}

TEST(ShapeStack, Bool) {
  Tensor r = stack({tensor<bool>({true, false}), tensor<bool>({false, true})}, 1);
  EXPECT_EQ(r.dtype(), kBool);
  EXPECT_EQ(r.to_vector<bool>(), (std::vector<bool>{true, false, false, true}));
}

TEST(ShapeStack, ZeroSize) {
  Tensor r = stack({empty({0, 3}), empty({0, 3})}, 1);
  EXPECT_EQ(shape_of(r), (I64{0, 2, 3}));
}

TEST(ShapeStack, ErrorShapeMismatch) {
  EXPECT_ERROR_HAS(stack({zeros({2}), zeros({3})}), "equal size");
}

TEST(ShapeStack, ErrorEmptyAndBadDim) {
  EXPECT_ERROR_HAS(stack({}), "non-empty list");
  EXPECT_ERROR_HAS(stack({zeros({2}), zeros({2})}, 3), "dim 3 is out of range");
}

// ---------------------------------------------------------------- split / chunk

TEST(ShapeSplit, BySizeWithRemainder) {
  Tensor x = arange(5);
  auto parts = split(x, 2);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].to_vector<int64_t>(), (I64{0, 1}));
  EXPECT_EQ(parts[1].to_vector<int64_t>(), (I64{2, 3}));
  EXPECT_EQ(parts[2].to_vector<int64_t>(), (I64{4}));
}

TEST(ShapeSplit, PiecesAreViews) {
  Tensor x = iota_f({4, 2});
  auto parts = split(x, 2, 0);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(parts[1].shares_storage(x));
  EXPECT_EQ(parts[1].storage_offset(), 4);
}

TEST(ShapeSplit, NegativeDim) {
  Tensor x = iota_f({2, 3});
  auto parts = split(x, 2, -1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(shape_of(parts[0]), (I64{2, 2}));
  EXPECT_EQ(parts[0].to_vector<float>(), (F32{0, 1, 3, 4}));
  EXPECT_EQ(parts[1].to_vector<float>(), (F32{2, 5}));
}

TEST(ShapeSplit, BySizes) {
  Tensor x = arange(6);
  auto parts = split(x, I64{1, 0, 5});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].to_vector<int64_t>(), (I64{0}));
  EXPECT_EQ(parts[1].numel(), 0);
  EXPECT_EQ(parts[2].to_vector<int64_t>(), (I64{1, 2, 3, 4, 5}));
}

TEST(ShapeSplit, EmptyDimGivesOnePiece) {
  auto parts = split(empty({0, 2}), 3);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(shape_of(parts[0]), (I64{0, 2}));
}

TEST(ShapeSplit, ErrorSizesDoNotSum) {
  EXPECT_ERROR_HAS(split(arange(3), I64{1, 1}), "must sum exactly to 3");
}

TEST(ShapeSplit, ErrorBadSplitSize) {
  EXPECT_ERROR_HAS(split(arange(3), 0), "split_size must be positive");
  EXPECT_ERROR_HAS(split(arange(3), I64{4, -1}), "non-negative");
  EXPECT_ERROR_HAS(split(scalar_tensor(1.0), 1), "at least 1 dim");
}

TEST(ShapeChunk, Even) {
  auto parts = chunk(arange(6), 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].to_vector<int64_t>(), (I64{4, 5}));
}

TEST(ShapeChunk, UnevenGivesFewerChunks) {
  // ceil(5 / 4) = 2 per chunk: three chunks, as PyTorch.
  auto parts = chunk(arange(5), 4);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].to_vector<int64_t>(), (I64{4}));
}

TEST(ShapeChunk, AlongDim1AndEmpty) {
  auto parts = chunk(iota_f({2, 4}), 2, 1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1].to_vector<float>(), (F32{2, 3, 6, 7}));
  auto empties = chunk(empty({0}), 3);
  EXPECT_EQ(empties.size(), 3u);
}

TEST(ShapeChunk, ErrorNonPositive) {
  EXPECT_ERROR_HAS(chunk(arange(3), 0), "greater than 0");
}

// ---------------------------------------------------------------- repeat / tile

TEST(ShapeRepeat, OneD) {
  Tensor r = repeat(tensor<int64_t>({1, 2, 3}), I64{2});
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{1, 2, 3, 1, 2, 3}));
}

TEST(ShapeRepeat, TwoDAndNewLeadingDim) {
  Tensor x = tensor<float>({1, 2}, {1, 2});
  Tensor r = repeat(x, I64{2, 2, 1});
  EXPECT_EQ(shape_of(r), (I64{2, 2, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 1, 2, 1, 2, 1, 2}));
  Tensor y = repeat(tensor<float>({1, 2, 3, 4}, {2, 2}), I64{1, 2});
  EXPECT_EQ(y.to_vector<float>(), (F32{1, 2, 1, 2, 3, 4, 3, 4}));
}

TEST(ShapeRepeat, NonContiguous) {
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2}).t();  // 1 3 / 2 4
  Tensor r = repeat(x, I64{2, 1});
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 3, 2, 4, 1, 3, 2, 4}));
}

TEST(ShapeRepeat, ZeroRepeatsAndScalar) {
  EXPECT_EQ(shape_of(repeat(tensor<float>({1, 2}), I64{0})), (I64{0}));
  Tensor r = repeat(scalar_tensor(5, kInt64), I64{3});
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{5, 5, 5}));
}

TEST(ShapeRepeat, ErrorTooFewRepeats) {
  EXPECT_ERROR_HAS(repeat(zeros({2, 2}), I64{2}), "can not be smaller");
  EXPECT_ERROR_HAS(repeat(zeros({2}), I64{-1}), "non-negative");
}

TEST(ShapeTile, PadsShortReps) {
  // tile pads reps with leading 1s where repeat would refuse.
  Tensor x = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor r = tile(x, I64{2});
  EXPECT_EQ(shape_of(r), (I64{2, 4}));
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 1, 2, 3, 4, 3, 4}));
}

TEST(ShapeTile, LongerReps) {
  Tensor r = tile(tensor<bool>({true, false}), I64{2, 1});
  EXPECT_EQ(shape_of(r), (I64{2, 2}));
  EXPECT_EQ(r.to_vector<bool>(), (std::vector<bool>{true, false, true, false}));
}

// ---------------------------------------------------------------- flip

TEST(ShapeFlip, OneD) {
  EXPECT_EQ(flip(arange(4), I64{0}).to_vector<int64_t>(), (I64{3, 2, 1, 0}));
}

TEST(ShapeFlip, TwoDEachDimAndBoth) {
  Tensor x = iota_f({2, 3});
  EXPECT_EQ(flip(x, I64{0}).to_vector<float>(), (F32{3, 4, 5, 0, 1, 2}));
  EXPECT_EQ(flip(x, I64{-1}).to_vector<float>(), (F32{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(flip(x, I64{0, 1}).to_vector<float>(), (F32{5, 4, 3, 2, 1, 0}));
}

TEST(ShapeFlip, NonContiguousAndNoDims) {
  Tensor x = iota_f({2, 3}).t();  // 0 3 / 1 4 / 2 5
  EXPECT_EQ(flip(x, I64{0}).to_vector<float>(), (F32{2, 5, 1, 4, 0, 3}));
  Tensor same = flip(x, I64{});
  EXPECT_FALSE(same.shares_storage(x));
  EXPECT_EQ(same.to_vector<float>(), (F32{0, 3, 1, 4, 2, 5}));
}

TEST(ShapeFlip, DtypesAndEmpty) {
  EXPECT_EQ(flip(tensor<double>({1.5, 2.5}), I64{0}).to_vector<double>(),
            (std::vector<double>{2.5, 1.5}));
  EXPECT_EQ(flip(tensor<bool>({true, false, false}), I64{0}).to_vector<bool>(),
            (std::vector<bool>{false, false, true}));
  EXPECT_EQ(shape_of(flip(empty({0, 2}), I64{0, 1})), (I64{0, 2}));
}

TEST(ShapeFlip, ErrorRepeatedDim) {
  EXPECT_ERROR_HAS(flip(zeros({2, 2}), I64{0, -2}), "appears multiple times");
  EXPECT_ERROR_HAS(flip(zeros({2, 2}), I64{2}), "dim 2 is out of range");
}

// ---------------------------------------------------------------- roll

TEST(ShapeRoll, OneD) {
  EXPECT_EQ(roll(arange(5), I64{2}, I64{0}).to_vector<int64_t>(), (I64{3, 4, 0, 1, 2}));
  EXPECT_EQ(roll(arange(5), I64{-1}, I64{0}).to_vector<int64_t>(), (I64{1, 2, 3, 4, 0}));
}

TEST(ShapeRoll, ShiftLargerThanSize) {
  EXPECT_EQ(roll(arange(3), I64{7}, I64{0}).to_vector<int64_t>(), (I64{2, 0, 1}));
  EXPECT_EQ(roll(arange(3), I64{3}, I64{0}).to_vector<int64_t>(), (I64{0, 1, 2}));
}

TEST(ShapeRoll, WithoutDimsFlattens) {
  Tensor r = roll(iota_f({2, 3}), I64{1});
  EXPECT_EQ(shape_of(r), (I64{2, 3}));
  EXPECT_EQ(r.to_vector<float>(), (F32{5, 0, 1, 2, 3, 4}));
}

TEST(ShapeRoll, TwoDims) {
  Tensor r = roll(iota_f({3, 3}), I64{1, -1}, I64{0, 1});
  // Rows rolled down by one, columns left by one.
  EXPECT_EQ(r.to_vector<float>(), (F32{7, 8, 6, 1, 2, 0, 4, 5, 3}));
}

TEST(ShapeRoll, SameDimTwiceAddsShifts) {
  EXPECT_EQ(roll(arange(4), I64{1, 2}, I64{0, 0}).to_vector<int64_t>(), (I64{1, 2, 3, 0}));
}

TEST(ShapeRoll, NonContiguous) {
  Tensor x = iota_f({2, 3}).t();  // 0 3 / 1 4 / 2 5
  Tensor r = roll(x, I64{1}, I64{0});
  EXPECT_EQ(r.to_vector<float>(), (F32{2, 5, 0, 3, 1, 4}));
  Tensor rf = roll(x, I64{1});  // flattened order 0 3 1 4 2 5
  EXPECT_EQ(rf.to_vector<float>(), (F32{5, 0, 3, 1, 4, 2}));
}

TEST(ShapeRoll, EmptyAndScalar) {
  EXPECT_EQ(roll(empty({0}), I64{3}, I64{0}).numel(), 0);
  EXPECT_EQ(roll(empty({0}), I64{3}).numel(), 0);
  EXPECT_EQ(roll(scalar_tensor(4, kInt64), I64{1}).item<int64_t>(), 4);
}

TEST(ShapeRoll, ErrorMismatch) {
  EXPECT_ERROR_HAS(roll(zeros({2, 2}), I64{1, 1}, I64{0}), "shifts and dims must align");
  EXPECT_ERROR_HAS(roll(zeros({2, 2}), I64{1, 1}), "one shift");
  EXPECT_ERROR_HAS(roll(zeros({2, 2}), I64{1}, I64{5}), "out of range");
}

// ---------------------------------------------------------------- tril / triu

TEST(ShapeTril, Square) {
  Tensor r = tril(iota_f({3, 3}) + 1);
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 0, 0, 4, 5, 0, 7, 8, 9}));
}

TEST(ShapeTril, Diagonals) {
  Tensor x = iota_f({3, 3}) + 1;
  EXPECT_EQ(tril(x, 1).to_vector<float>(), (F32{1, 2, 0, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(tril(x, -1).to_vector<float>(), (F32{0, 0, 0, 4, 0, 0, 7, 8, 0}));
  EXPECT_EQ(tril(x, -5).to_vector<float>(), (F32(9, 0)));
  EXPECT_EQ(tril(x, 5).to_vector<float>(), x.to_vector<float>());
}

TEST(ShapeTril, RectangularBatchedInt) {
  Tensor x = arange(12).reshape({2, 2, 3}) + 1;
  Tensor r = tril(x);
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(r.to_vector<int64_t>(), (I64{1, 0, 0, 4, 5, 0, 7, 0, 0, 10, 11, 0}));
}

TEST(ShapeTriu, Square) {
  Tensor r = triu(iota_f({3, 3}) + 1);
  EXPECT_EQ(r.to_vector<float>(), (F32{1, 2, 3, 0, 5, 6, 0, 0, 9}));
}

TEST(ShapeTriu, Diagonals) {
  Tensor x = iota_f({3, 3}) + 1;
  EXPECT_EQ(triu(x, 1).to_vector<float>(), (F32{0, 2, 3, 0, 0, 6, 0, 0, 0}));
  EXPECT_EQ(triu(x, -1).to_vector<float>(), (F32{1, 2, 3, 4, 5, 6, 0, 8, 9}));
}

TEST(ShapeTriu, TallNonContiguousBool) {
  Tensor x = full({2, 3}, true, kBool).t();  // [3, 2]
  EXPECT_EQ(triu(x).to_vector<bool>(),
            (std::vector<bool>{true, true, false, true, false, false}));
  Tensor y = (iota_f({2, 3}) + 1).t();  // 1 4 / 2 5 / 3 6
  EXPECT_EQ(triu(y).to_vector<float>(), (F32{1, 4, 0, 5, 0, 0}));
}

TEST(ShapeTriu, Float64AndEmpty) {
  Tensor x = tensor<double>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(triu(x).to_vector<double>(), (std::vector<double>{1, 2, 0, 4}));
  EXPECT_EQ(shape_of(triu(empty({0, 3}))), (I64{0, 3}));
}

TEST(ShapeTriu, ErrorNeedsTwoDims) {
  EXPECT_ERROR_HAS(triu(zeros({3})), "at least 2 dimensions");
  EXPECT_ERROR_HAS(tril(zeros({3})), "tril: [3] f32");
}

}  // namespace
}  // namespace tessera
