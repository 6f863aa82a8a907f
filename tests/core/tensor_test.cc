// Tensor core: metadata, dtypes, factories, copies and conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

}  // namespace

TEST(DType, ItemSizes) {
  EXPECT_EQ(itemsize(kBool), 1u);
  EXPECT_EQ(itemsize(kUInt8), 1u);
  EXPECT_EQ(itemsize(kInt8), 1u);
  EXPECT_EQ(itemsize(kInt32), 4u);
  EXPECT_EQ(itemsize(kInt64), 8u);
  EXPECT_EQ(itemsize(kFloat16), 2u);
  EXPECT_EQ(itemsize(kBFloat16), 2u);
  EXPECT_EQ(itemsize(kFloat32), 4u);
  EXPECT_EQ(itemsize(kFloat64), 8u);
}

TEST(DType, Names) {
  EXPECT_STREQ(dtype_name(kFloat32), "f32");
  EXPECT_STREQ(dtype_name(kBFloat16), "bf16");
  EXPECT_STREQ(dtype_name(kBool), "bool");
}

TEST(DType, PromotionFollowsPyTorch) {
  EXPECT_EQ(promote_types(kInt64, kFloat32), kFloat32);
  EXPECT_EQ(promote_types(kFloat32, kFloat64), kFloat64);
  EXPECT_EQ(promote_types(kBool, kInt8), kInt8);
  EXPECT_EQ(promote_types(kInt32, kInt64), kInt64);
  EXPECT_EQ(promote_types(kUInt8, kInt32), kInt32);
  EXPECT_EQ(promote_types(kFloat16, kBFloat16), kFloat32);
  EXPECT_EQ(promote_types(kBFloat16, kFloat32), kFloat32);
  EXPECT_EQ(promote_types(kFloat16, kInt64), kFloat16);
  EXPECT_EQ(promote_types(kBool, kBool), kBool);
}

TEST(DType, CanCast) {
  EXPECT_TRUE(can_cast(kInt64, kFloat32));
  EXPECT_FALSE(can_cast(kFloat32, kInt64));
  EXPECT_FALSE(can_cast(kInt32, kBool));
  EXPECT_TRUE(can_cast(kBool, kFloat32));
}

TEST(DType, HalfRoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f}) {
    EXPECT_EQ(static_cast<float>(Half(f)), f) << f;
  }
  EXPECT_TRUE(std::isinf(static_cast<float>(Half(1e6f))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Half(std::nanf("")))));
  EXPECT_EQ(static_cast<float>(Half(1.0f + 1.0f / 4096)), 1.0f);  // ties to even
}

TEST(DType, BFloat16RoundTrip) {
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f)), 1.0f);
  EXPECT_EQ(static_cast<float>(BFloat16(-3.0f)), -3.0f);
  EXPECT_EQ(static_cast<float>(BFloat16(1.00390625f)), 1.0f);  // tie to even
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::nanf("")))));
}

TEST(Scalar, Kinds) {
  EXPECT_TRUE(Scalar(1).is_integral());
  EXPECT_TRUE(Scalar(1.5).is_floating());
  EXPECT_TRUE(Scalar(true).is_bool());
  EXPECT_EQ(Scalar(2.5).natural_dtype(), kFloat32);
  EXPECT_EQ(Scalar(int64_t{7}).natural_dtype(), kInt64);
  EXPECT_EQ(Scalar(7).to<float>(), 7.0f);
}

TEST(Tensor, UndefinedThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.numel(), Error);
}

TEST(Tensor, EmptyHasContiguousStrides) {
  Tensor t = empty({2, 3, 4});
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_TRUE(t.strides().equals({12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % 64, 0u);
}

TEST(Tensor, ZeroDimScalar) {
  Tensor t = scalar_tensor(3.5);
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.numel(), 1);
  EXPECT_EQ(t.item<float>(), 3.5f);
  EXPECT_THROW(t.size(0), Error);  // a 0-d tensor has no dims to ask about
}

TEST(Tensor, SizeNegativeDim) {
  Tensor t = zeros({2, 3});
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_NE(error_of([&] { t.size(2); }).find("out of range"), std::string::npos);
}

TEST(Tensor, NegativeShapeRejected) {
  EXPECT_NE(error_of([] { zeros({2, -1}); }).find("negative dimension"), std::string::npos);
}

// Shapes whose element count or strides overflow int64 are refused with an error, even
// when a zero dim makes them empty (no wrap-around, no undefined behaviour).
TEST(Tensor, ShapesBeyondInt64AreRefused) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_NE(error_of([&] { zeros({big, big}); }).find("more elements than int64 can count"), std::string::npos);
  EXPECT_NE(error_of([&] { zeros({0, big, big}); }).find("strides that int64 cannot hold"), std::string::npos);
  // A -1 next to sizes whose product wraps to a divisor of numel.
  EXPECT_NE(error_of([&] { zeros({4}).view({big, big, big, -1}); }).find("more elements than int64 can count"),
            std::string::npos);
  EXPECT_NE(error_of([&] { zeros({0}).reshape({big, big, 0}); }).find("more elements than int64 can count"),
            std::string::npos);
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_NE(error_of([] { zeros({2}).item<float>(); }).find("one element"), std::string::npos);
}

TEST(Tensor, DataWrongTypeThrows) {
  Tensor t = zeros({2});
  EXPECT_THROW(t.data<double>(), Error);
  EXPECT_NO_THROW(t.data<float>());
}

TEST(Factory, ZerosOnesFull) {
  EXPECT_EQ(zeros({3}).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(ones({2}, kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(full({2}, 2.5, kFloat64).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(full({2}, true, kBool).to_vector<bool>(), (std::vector<bool>{true, true}));
}

TEST(Factory, LikeForms) {
  Tensor t = ones({2, 3}, kInt32);
  EXPECT_EQ(zeros_like(t).dtype(), kInt32);
  EXPECT_TRUE(ones_like(t).sizes().equals({2, 3}));
  EXPECT_EQ(full_like(t, 4).to_vector<int32_t>()[5], 4);
  EXPECT_TRUE(empty_like(t).sizes().equals({2, 3}));
}

TEST(Factory, ZeroSize) {
  Tensor t = zeros({0, 3});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.to_vector<float>().empty());
}

TEST(Factory, ArangeIntAndFloat) {
  Tensor a = arange(5);
  EXPECT_EQ(a.dtype(), kInt64);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Tensor b = arange(0.0, 1.0, 0.25);
  EXPECT_EQ(b.dtype(), kFloat32);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));
  EXPECT_EQ(arange(5, 0, -2).to_vector<int64_t>(), (std::vector<int64_t>{5, 3, 1}));
}

TEST(Factory, ArangeErrors) {
  EXPECT_NE(error_of([] { arange(0, 5, 0); }).find("step must be nonzero"), std::string::npos);
  EXPECT_NE(error_of([] { arange(0, 5, -1); }).find("inconsistent"), std::string::npos);
}

TEST(Factory, Linspace) {
  Tensor t = linspace(0, 1, 5);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1}));
  EXPECT_EQ(linspace(2, 3, 1).to_vector<float>(), (std::vector<float>{2}));
  EXPECT_EQ(linspace(2, 3, 0).numel(), 0);
  EXPECT_THROW(linspace(0, 1, -1), Error);
}

TEST(Factory, Eye) {
  EXPECT_EQ(eye(2).to_vector<float>(), (std::vector<float>{1, 0, 0, 1}));
  EXPECT_EQ(eye(2, 3, kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 0, 1, 0}));
}

TEST(Factory, FromVectorWithShape) {
  Tensor t = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(t.sizes().equals({2, 3}));
  EXPECT_EQ(t[1].to_vector<float>(), (std::vector<float>{4, 5, 6}));
  EXPECT_NE(error_of([] { tensor<float>({1, 2, 3}, {2, 2}); }).find("holds 4 elements but 3"),
            std::string::npos);
}

TEST(Factory, FromInitializerListTypes) {
  EXPECT_EQ(tensor({1, 2}).dtype(), kInt32);
  EXPECT_EQ(tensor({int64_t{1}}).dtype(), kInt64);
  EXPECT_EQ(tensor({1.0}).dtype(), kFloat64);
  EXPECT_EQ(tensor({true, false}).to_vector<bool>(), (std::vector<bool>{true, false}));
}

TEST(Factory, FromBlobNoCopyAndDeleter) {
  int deleted = 0;
  float buf[6] = {0, 1, 2, 3, 4, 5};
  {
    Tensor t = from_blob(buf, {2, 3}, kFloat32, [&](void*) { ++deleted; });
    EXPECT_EQ(t.data_ptr(), static_cast<void*>(buf));
    buf[4] = 40;
    EXPECT_EQ(t[1][1].item<float>(), 40.0f);
    Tensor v = t.t();  // a view keeps the blob alive
    t = Tensor();
    EXPECT_EQ(deleted, 0);
  }
  EXPECT_EQ(deleted, 1);
}

TEST(Factory, FromBlobStrided) {
  float buf[6] = {0, 1, 2, 3, 4, 5};
  Tensor t = from_blob(buf, {3}, {2}, kFloat32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 2, 4}));
  EXPECT_FALSE(t.is_contiguous());
}

TEST(Copy, CloneIsIndependent) {
  Tensor a = arange(4);
  Tensor b = a.clone();
  EXPECT_FALSE(b.shares_storage(a));
  b.fill_(7);
  EXPECT_EQ(a.to_vector<int64_t>()[0], 0);
}

TEST(Copy, ContiguousReturnsSelfWhenContiguous) {
  Tensor a = zeros({2, 3});
  EXPECT_TRUE(a.contiguous().is_same(a));
  Tensor t = a.t();
  EXPECT_FALSE(t.is_contiguous());
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(a));
}

TEST(Copy, ContiguousOfTransposeHasRightOrder) {
  Tensor a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(a.t().contiguous().to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Copy, ToConvertsAllPairs) {
  const DType all[] = {kBool, kUInt8, kInt8, kInt32, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64};
  Tensor src = tensor<float>({0, 1, 2, 3});
  for (DType a : all) {
    for (DType b : all) {
      Tensor r = src.to(a).to(b).to(kFloat64);
      std::vector<double> v = r.to_vector<double>();
      const double expect3 = (a == kBool || b == kBool) ? 1.0 : 3.0;
      EXPECT_EQ(v[3], expect3) << dtype_name(a) << " -> " << dtype_name(b);
      EXPECT_EQ(v[0], 0.0);
    }
  }
}

TEST(Copy, ToSameDtypeIsNoOp) {
  Tensor a = zeros({2});
  EXPECT_TRUE(a.to(kFloat32).is_same(a));
}

TEST(Copy, FloatToIntSaturatesAndNanIsZero) {
  Tensor f = tensor<float>({1e20f, -1e20f, std::nanf(""), -2.7f});
  EXPECT_EQ(f.to(kInt32).to_vector<int32_t>(),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::lowest(), 0, -2}));
}

TEST(Copy, CopyBroadcastsSource) {
  Tensor dst = zeros({2, 3});
  dst.copy_(tensor<float>({1, 2, 3}));
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
}

TEST(Copy, CopyIntoNonContiguousView) {
  Tensor dst = zeros({3, 2});
  dst.t()[0].copy_(tensor<float>({7, 8, 9}));
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{7, 0, 8, 0, 9, 0}));
}

TEST(Copy, CopyShapeMismatch) {
  Tensor dst = zeros({2, 3});
  EXPECT_NE(error_of([&] { dst.copy_(zeros({4})); }).find("not broadcastable"), std::string::npos);
  EXPECT_NE(error_of([&] { zeros({3}).copy_(zeros({2, 3})); }).find("does not broadcast"),
            std::string::npos);
}

TEST(Copy, CopyFromOverlappingSelfView) {
  Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});
  a.copy_(a.t());
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(Copy, CopyBumpsVersion) {
  Tensor a = zeros({2});
  const uint64_t v = a.storage()->version();
  a.copy_(ones({2}));
  EXPECT_GT(a.storage()->version(), v);
  a.zero_();
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0, 0}));
}

TEST(Copy, FillIntWithFloatRejected) {
  Tensor a = zeros({2}, kInt64);
  EXPECT_NE(error_of([&] { a.fill_(1.5); }).find("cannot fill"), std::string::npos);
}

TEST(Copy, BFloat16Storage) {
  Tensor a = tensor<float>({1.5f, -2.0f}).to(kBFloat16);
  EXPECT_EQ(a.dtype(), kBFloat16);
  EXPECT_EQ(a.nbytes(), 4u);
  EXPECT_EQ(a.to(kFloat32).to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(a[0].item<float>(), 1.5f);
}

TEST(Copy, LargeContiguousCopyParallel) {
  Tensor a = arange(0, 1 << 21, 1, kFloat32);
  Tensor b = a.clone();
  std::vector<float> v = b.to_vector<float>();
  EXPECT_EQ(v[12345], 12345.0f);
  EXPECT_EQ(v.back(), static_cast<float>((1 << 21) - 1));
}
